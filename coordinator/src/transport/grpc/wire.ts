import type * as wire from "../../../../proto/gen/fl/v1/federation.js";
import type { UpdateManifest } from "../../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import type {
  EvaluationReport,
  Heartbeat,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  RequestAuth,
  SignedHeartbeatAck,
  SignedPullOutcome,
  UploadHeader,
  UploadVerdict,
} from "../../../../shared/src/fl/messages.js";
import { signedTaskFields } from "../../../../shared/src/fl/session-calls.js";
import { rows, statisticsFromWire } from "../../../../shared/src/transport/grpc-statistics.js";

/**
 * The generated protobuf types to and from the federation's domain messages, for the server
 * side. Pure: no checks beyond what a message needs to be represented at all; the domain checks
 * the content in one place.
 */

export function challengeToWire(challenge: JoinChallenge): wire.ChallengeResponse {
  return {
    challenge: Buffer.from(challenge.challenge),
    federationId: challenge.federationId,
    expiresAtMs: challenge.expiresAtMs,
    coordinatorSignature: Buffer.from(challenge.coordinatorSignature),
  };
}

/** The session fields every call after Join carries. */
export function requestAuthFromWire(request: {
  sessionToken: string;
  sequence: number;
  mac: Buffer;
}): RequestAuth {
  return { sessionToken: request.sessionToken, sequence: request.sequence, mac: new Uint8Array(request.mac) };
}

export function joinRequestFromWire(request: wire.JoinRequest): JoinRequest {
  const { info } = request;
  return {
    siteId: request.siteId,
    challenge: new Uint8Array(request.challenge),
    signature: new Uint8Array(request.signature),
    ...(info && {
      info: {
        trainClassCounts: info.trainClassCounts,
        trainUnlabelledCount: info.trainUnlabelledCount,
        validationCount: info.validationCount,
        testCount: info.testCount,
        backend: info.backend,
        clientVersion: info.clientVersion,
      },
    }),
  };
}

export function joinGrantToWire(grant: JoinGrant): wire.JoinResponse {
  return {
    sessionToken: grant.sessionToken,
    federationId: grant.federationId,
    coordinatorEncryptionPublicKey: Buffer.from(grant.coordinatorEncryptionPublicKey),
    coordinatorSigningPublicKey: Buffer.from(grant.coordinatorSigningPublicKey),
    heartbeatIntervalMs: grant.heartbeatIntervalMs,
    coordinatorSignature: Buffer.from(grant.coordinatorSignature),
  };
}

export function pullOutcomeToWire(outcome: SignedPullOutcome): wire.PullTaskResponse {
  switch (outcome.kind) {
    case "task":
      return {
        result: {
          $case: "task",
          value: { ...signedTaskFields(outcome.task), coordinatorSignature: Buffer.from(outcome.signature) },
        },
      };
    case "wait":
      return {
        result: { $case: "wait", value: { retryAfterMs: outcome.retryAfterMs, reason: outcome.reason } },
      };
    case "done":
      return {
        result: {
          $case: "done",
          value: { reason: outcome.reason, coordinatorSignature: Buffer.from(outcome.signature) },
        },
      };
  }
}

/** proto3 has no absent string: an empty `failure` means the site has not given up. */
export function heartbeatFromWire(request: wire.HeartbeatRequest): Heartbeat {
  return {
    taskId: request.taskId,
    progress: request.progress,
    status: request.status,
    ...(request.failure && { failure: request.failure }),
  };
}

export function heartbeatAckToWire(ack: SignedHeartbeatAck): wire.HeartbeatResponse {
  return { taskActive: ack.taskActive, mac: Buffer.from(ack.mac) };
}

export function uploadHeaderFromWire(header: wire.UploadHeader): UploadHeader {
  if (!header.manifest) throw new FlError(ErrorCode.InvalidArgument, "upload header has no manifest");
  const manifest: UpdateManifest = { ...header.manifest };
  return { manifest, signature: new Uint8Array(header.signature), trainMetrics: header.trainMetrics };
}

export function verdictToWire(verdict: UploadVerdict): wire.UploadVerdict {
  return verdict.accepted
    ? { accepted: true, reasonCode: "", message: "accepted" }
    : { accepted: false, reasonCode: verdict.reasonCode, message: verdict.message };
}

export function evaluationFromWire(report: wire.EvaluationReport): EvaluationReport {
  return {
    taskId: report.taskId,
    round: report.round,
    modelVersion: report.modelVersion,
    split: report.split,
    numExamples: report.numExamples,
    // The wire's row-major cells as rows of `numClasses`. Nothing is dropped or padded, so that
    // the one check of the matrix's shape (in the evaluation intake) sees exactly what arrived.
    confusion: rows(report.confusion, report.numClasses),
    metrics: report.metrics,
    ...(report.statistics && { statistics: statisticsFromWire(report.statistics, report.numClasses) }),
  };
}
