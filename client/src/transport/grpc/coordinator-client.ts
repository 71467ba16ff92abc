import * as grpc from "@grpc/grpc-js";
import {
  type ChallengeResponse,
  FederationClient,
  type HeartbeatResponse,
  type JoinResponse,
  type PullTaskResponse,
  type SecAggResponse,
} from "../../../../proto/gen/fl/v1/federation.js";
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
import type { CoordinatorPort } from "../../../../shared/src/fl/ports.js";
import type { SecAggRequest, SignedSecAggAnswer } from "../../../../shared/src/fl/secagg-exchange.js";
import { channelBindingOfCertificate } from "../../../../shared/src/transport/channel-binding.js";
import { fromServiceError } from "../../../../shared/src/transport/grpc-errors.js";
import { GRPC_CHANNEL_OPTIONS } from "../../../../shared/src/transport/grpc-options.js";
import { secAggAnswerFromWire, secAggRequestToWire } from "../../../../shared/src/transport/grpc-secagg.js";
import { statisticsToWire } from "../../../../shared/src/transport/grpc-statistics.js";
import { sha256Hex } from "../../../../shared/src/weights/index.js";
import { receiveTask } from "../receive-task.js";
import { type ChannelSecurity, channelCredentials } from "./credentials.js";

/**
 * The site's channel pings the coordinator every 10 s and drops the connection when a ping is
 * not answered within 5 s: a cut link then fails the calls in flight (the long poll, an upload)
 * within 15 s, well inside the coordinator's heartbeat timeout (at least 20 s), and the site
 * reconnects and joins again instead of waiting on a dead TCP connection for TCP's own backoff.
 * The coordinator's grpc-js server accepts pings this often (it enforces no ping policy).
 */
export const SITE_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  ...GRPC_CHANNEL_OPTIONS,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
};

/**
 * The hospital's port to its coordinator over gRPC: the only place on the client that sees the
 * generated protobuf types. Every error comes out as an FlError.
 */
export class GrpcCoordinatorPort implements CoordinatorPort {
  private readonly client: FederationClient;
  readonly channelBinding: string;

  constructor(
    address: string,
    security: ChannelSecurity,
    channelOptions: grpc.ChannelOptions = SITE_CHANNEL_OPTIONS,
  ) {
    this.client = new FederationClient(address, channelCredentials(security), channelOptions);
    this.channelBinding = security === "insecure" ? "" : channelBindingOfCertificate(security.cert);
  }

  close(): void {
    this.client.close();
  }

  async getChallenge(request: ChallengeRequest): Promise<JoinChallenge> {
    const wire = { siteId: request.siteId, clientNonce: Buffer.from(request.clientNonce) };
    const response = await this.unary<ChallengeResponse>((cb) =>
      this.client.getChallenge(wire, new grpc.Metadata(), this.deadline(30_000), cb),
    );
    return {
      challenge: new Uint8Array(response.challenge),
      federationId: response.federationId,
      expiresAtMs: response.expiresAtMs,
      coordinatorSignature: new Uint8Array(response.coordinatorSignature),
    };
  }

  async join(request: JoinRequest): Promise<JoinGrant> {
    const wire = {
      siteId: request.siteId,
      challenge: Buffer.from(request.challenge),
      signature: Buffer.from(request.signature),
      ...(request.info && {
        info: { ...request.info, trainClassCounts: [...request.info.trainClassCounts] },
      }),
    };
    const response = await this.unary<JoinResponse>((cb) =>
      this.client.join(wire, new grpc.Metadata(), this.deadline(30_000), cb),
    );
    return {
      sessionToken: response.sessionToken,
      federationId: response.federationId,
      coordinatorEncryptionPublicKey: new Uint8Array(response.coordinatorEncryptionPublicKey),
      coordinatorSigningPublicKey: new Uint8Array(response.coordinatorSigningPublicKey),
      heartbeatIntervalMs: response.heartbeatIntervalMs,
      coordinatorSignature: new Uint8Array(response.coordinatorSignature),
    };
  }

  /** Long-polls for the next task; its spec is parsed here, once. */
  async pullTask(auth: RequestAuth, waitMs: number): Promise<ReceivedPull> {
    const response = await this.unary<PullTaskResponse>((cb) =>
      this.client.pullTask(
        { ...authToWire(auth), waitMs },
        new grpc.Metadata(),
        this.deadline(waitMs + 30_000),
        cb,
      ),
    );
    const result = response.result;
    switch (result?.$case) {
      case "task": {
        const { coordinatorSignature, ...signed } = result.value;
        return receiveTask(signed, new Uint8Array(coordinatorSignature));
      }
      case "done":
        return {
          kind: "done",
          reason: result.value.reason,
          signature: new Uint8Array(result.value.coordinatorSignature),
        };
      case "wait":
        return { kind: "wait", retryAfterMs: result.value.retryAfterMs, reason: result.value.reason };
      default:
        throw new FlError(
          ErrorCode.InvalidArgument,
          "the coordinator answered PullTask with neither a task, a wait nor done",
        );
    }
  }

  async heartbeat(auth: RequestAuth, beat: Heartbeat): Promise<SignedHeartbeatAck> {
    const request = { ...authToWire(auth), ...beat, failure: beat.failure ?? "" };
    const response = await this.unary<HeartbeatResponse>((cb) =>
      this.client.heartbeat(request, new grpc.Metadata(), this.deadline(15_000), cb),
    );
    return { taskActive: response.taskActive, mac: new Uint8Array(response.mac) };
  }

  async reportEvaluation(auth: RequestAuth, report: EvaluationReport): Promise<void> {
    const request = {
      ...authToWire(auth),
      taskId: report.taskId,
      round: report.round,
      modelVersion: report.modelVersion,
      split: report.split,
      numExamples: report.numExamples,
      numClasses: report.confusion.length,
      confusion: report.confusion.flat(),
      metrics: { ...report.metrics },
      ...(report.statistics && { statistics: statisticsToWire(report.statistics) }),
    };
    await this.unary((cb) =>
      this.client.reportEvaluation(request, new grpc.Metadata(), this.deadline(30_000), cb),
    );
  }

  async secAggExchange(auth: RequestAuth, request: SecAggRequest): Promise<SignedSecAggAnswer> {
    const response = await this.unary<SecAggResponse>((cb) =>
      this.client.secAggExchange(
        secAggRequestToWire(auth, request),
        new grpc.Metadata(),
        this.deadline(request.waitMs + 30_000),
        cb,
      ),
    );
    return secAggAnswerFromWire(response);
  }

  async leave(auth: RequestAuth, reason: string): Promise<void> {
    await this.unary((cb) =>
      this.client.leave({ ...authToWire(auth), reason }, new grpc.Metadata(), this.deadline(5_000), cb),
    );
  }

  /** Downloads a model version, checking offsets, total size and the final sha256. */
  downloadModel(auth: RequestAuth, modelVersion: number, expectedSha256: string): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const stream = this.client.downloadModel({ ...authToWire(auth), modelVersion }, this.deadline(600_000));
      let buffer: Uint8Array | undefined;
      let filled = 0;
      let finalHash = "";
      const fail = (error: FlError) => {
        stream.cancel();
        reject(error);
      };
      stream.on("data", (chunk: { offset: number; data: Buffer; totalBytes: number; sha256: string }) => {
        buffer ??= new Uint8Array(chunk.totalBytes);
        if (chunk.offset !== filled || filled + chunk.data.length > buffer.length) {
          fail(
            new FlError(
              ErrorCode.InvalidArgument,
              `model chunk at offset ${chunk.offset} does not follow ${filled} (total ${buffer.length})`,
            ),
          );
          return;
        }
        buffer.set(chunk.data, filled);
        filled += chunk.data.length;
        if (chunk.sha256) finalHash = chunk.sha256;
      });
      stream.on("error", (error) => reject(fromServiceError(error)));
      stream.on("end", () => {
        const bytes = buffer ?? new Uint8Array(0);
        if (filled !== bytes.length)
          return reject(
            new FlError(
              ErrorCode.InvalidArgument,
              `model download ended at ${filled} of ${bytes.length} bytes`,
            ),
          );
        const hash = sha256Hex(bytes);
        if (hash !== expectedSha256 || (finalHash && finalHash !== hash)) {
          return reject(
            new FlError(
              ErrorCode.HashMismatch,
              `downloaded model v${modelVersion} hashes to ${hash}; expected ${expectedSha256}`,
            ),
          );
        }
        resolve(bytes);
      });
    });
  }

  /** Streams header then encrypted chunks, honouring back-pressure, and returns the verdict. */
  uploadUpdate(
    auth: RequestAuth,
    update: SealedUpdate,
    trainMetrics: Readonly<Record<string, number>>,
  ): Promise<UploadVerdict> {
    return new Promise((resolve, reject) => {
      const call = this.client.uploadUpdate(this.deadline(600_000), (error, verdict) => {
        if (error) reject(fromServiceError(error));
        else if (verdict.accepted) resolve({ accepted: true });
        else resolve({ accepted: false, reasonCode: verdict.reasonCode, message: verdict.message });
      });
      const write = async () => {
        const send = (message: Parameters<typeof call.write>[0]) =>
          call.write(message) ? Promise.resolve() : new Promise<void>((ok) => call.once("drain", () => ok()));
        await send({
          part: {
            $case: "header",
            value: {
              ...authToWire(auth),
              manifest: update.manifest,
              signature: Buffer.from(update.signature),
              trainMetrics: { ...trainMetrics },
            },
          },
        });
        for (const [index, ciphertext] of update.chunks.entries()) {
          await send({
            part: {
              $case: "chunk",
              value: {
                index,
                ciphertext: Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength),
              },
            },
          });
        }
        call.end();
      };
      write().catch((error: unknown) => {
        call.cancel();
        reject(fromServiceError(error));
      });
    });
  }

  private deadline(ms: number): grpc.CallOptions {
    return { deadline: Date.now() + ms };
  }

  private unary<T>(
    start: (callback: (error: grpc.ServiceError | null, response: T) => void) => unknown,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      start((error, response) => (error ? reject(fromServiceError(error)) : resolve(response)));
    });
  }
}

function authToWire(auth: RequestAuth): { sessionToken: string; sequence: number; mac: Buffer } {
  return { sessionToken: auth.sessionToken, sequence: auth.sequence, mac: Buffer.from(auth.mac) };
}
