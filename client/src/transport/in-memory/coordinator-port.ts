import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import type {
  ChallengeRequest,
  EvaluationReport,
  Heartbeat,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  ReceivedPull,
  RequestAuth,
  SealedUpdate,
  SignedHeartbeatAck,
  UploadVerdict,
} from "../../../../shared/src/fl/messages.js";
import type { CoordinatorPort, CoordinatorService } from "../../../../shared/src/fl/ports.js";
import type { SecAggRequest, SignedSecAggAnswer } from "../../../../shared/src/fl/secagg-exchange.js";
import { signedTaskFields, statisticsBody } from "../../../../shared/src/fl/session-calls.js";
import { rejectionVerdict } from "../../../../shared/src/fl/verdict.js";
import {
  secAggAnswerFromWire,
  secAggAnswerToWire,
  secAggRequestFromWire,
  secAggRequestToWire,
} from "../../../../shared/src/transport/grpc-secagg.js";
import { sha256Hex } from "../../../../shared/src/weights/index.js";
import { receiveTask } from "../receive-task.js";

/**
 * The hospital's port to a coordinator in the same process, for tests and examples. It keeps
 * what a wire would: no byte array is shared between the two sides, the task's spec travels as
 * JSON and is parsed like the gRPC adapter parses it, the model is checked against its sha256,
 * chunks arrive in order, and refusals become the same verdicts and errors as over gRPC.
 */
export class InMemoryCoordinatorPort implements CoordinatorPort {
  private readonly closed = new AbortController();
  /** No TLS in one process. */
  readonly channelBinding = "";

  constructor(private readonly service: CoordinatorService) {}

  close(): void {
    this.closed.abort();
  }

  getChallenge(request: ChallengeRequest): Promise<JoinChallenge> {
    return this.call(() => {
      const challenge = this.service.getChallenge({
        siteId: request.siteId,
        clientNonce: copy(request.clientNonce),
      });
      return {
        ...challenge,
        challenge: copy(challenge.challenge),
        coordinatorSignature: copy(challenge.coordinatorSignature),
      };
    });
  }

  join(request: JoinRequest): Promise<JoinGrant> {
    return this.call(() => {
      const grant = this.service.join({
        siteId: request.siteId,
        challenge: copy(request.challenge),
        signature: copy(request.signature),
        ...(request.info && {
          info: { ...request.info, trainClassCounts: [...request.info.trainClassCounts] },
        }),
      });
      return {
        ...grant,
        coordinatorEncryptionPublicKey: copy(grant.coordinatorEncryptionPublicKey),
        coordinatorSigningPublicKey: copy(grant.coordinatorSigningPublicKey),
        coordinatorSignature: copy(grant.coordinatorSignature),
      };
    });
  }

  async pullTask(auth: RequestAuth, waitMs: number): Promise<ReceivedPull> {
    const outcome = await this.call(() => this.service.pullTask(copyAuth(auth), waitMs, this.closed.signal));
    switch (outcome.kind) {
      case "task":
        return receiveTask(signedTaskFields(outcome.task), copy(outcome.signature));
      case "done":
        return { ...outcome, signature: copy(outcome.signature) };
      case "wait":
        return { ...outcome };
    }
  }

  heartbeat(auth: RequestAuth, beat: Heartbeat): Promise<SignedHeartbeatAck> {
    return this.call(() => {
      const ack = this.service.heartbeat(copyAuth(auth), { ...beat });
      return { taskActive: ack.taskActive, mac: copy(ack.mac) };
    });
  }

  async downloadModel(auth: RequestAuth, version: number, expectedSha256: string): Promise<Uint8Array> {
    const blob = await this.call(() => this.service.model(copyAuth(auth), version));
    const bytes = copy(blob.bytes);
    const hash = sha256Hex(bytes);
    if (hash !== expectedSha256 || (blob.sha256 && blob.sha256 !== hash)) {
      throw new FlError(
        ErrorCode.HashMismatch,
        `downloaded model v${version} hashes to ${hash}; expected ${expectedSha256}`,
      );
    }
    return bytes;
  }

  async uploadUpdate(
    auth: RequestAuth,
    update: SealedUpdate,
    trainMetrics: Readonly<Record<string, number>>,
  ): Promise<UploadVerdict> {
    try {
      const sink = this.service.beginUpload(copyAuth(auth), {
        manifest: { ...update.manifest },
        signature: copy(update.signature),
        trainMetrics: { ...trainMetrics },
      });
      for (const [index, ciphertext] of update.chunks.entries()) sink.addChunk(index, copy(ciphertext));
      await sink.finish();
      return { accepted: true };
    } catch (error) {
      return rejectionVerdict(error);
    }
  }

  reportEvaluation(auth: RequestAuth, report: EvaluationReport): Promise<void> {
    return this.call(() =>
      this.service.reportEvaluation(copyAuth(auth), {
        ...report,
        confusion: report.confusion.map((row) => [...row]),
        metrics: { ...report.metrics },
        // A deep copy, as a wire would make: the coordinator keeps nothing the site still holds.
        ...(report.statistics && { statistics: statisticsBody(report.statistics) }),
      }),
    );
  }

  leave(auth: RequestAuth, reason: string): Promise<void> {
    return this.call(() => this.service.leave(copyAuth(auth), reason));
  }

  /** Through the same wire conversion as gRPC, so that no byte array is shared and bad fields fail alike. */
  secAggExchange(auth: RequestAuth, request: SecAggRequest): Promise<SignedSecAggAnswer> {
    return this.call(async () => {
      const { service } = this;
      if (!service.secAggExchange)
        throw new FlError(ErrorCode.Unsupported, "this coordinator runs no secure aggregation");
      const received = secAggRequestFromWire(secAggRequestToWire(auth, request));
      const answer = await service.secAggExchange(copyAuth(auth), received, this.closed.signal);
      return secAggAnswerFromWire(secAggAnswerToWire(answer));
    });
  }

  /** Like a wire, answers asynchronously and with FlErrors only. */
  private async call<T>(body: () => T | Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw FlError.from(error);
    }
  }
}

function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function copyAuth(auth: RequestAuth): RequestAuth {
  return { sessionToken: auth.sessionToken, sequence: auth.sequence, mac: copy(auth.mac) };
}
