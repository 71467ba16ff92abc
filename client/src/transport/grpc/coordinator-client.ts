import * as grpc from "@grpc/grpc-js";
import {
  type ChallengeResponse,
  type EvaluationReport,
  FederationClient,
  type HeartbeatResponse,
  type JoinRequest,
  type JoinResponse,
  type PullTaskResponse,
  type UploadVerdict,
} from "../../../../proto/gen/fl/v1/federation.js";
import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import { fromServiceError } from "../../../../shared/src/transport/grpc-errors.js";
import { GRPC_CHANNEL_OPTIONS } from "../../../../shared/src/transport/grpc-options.js";
import { sha256Hex } from "../../../../shared/src/weights/index.js";
import type { PackedUpdate } from "../../update-packer.js";

/** A task as the hospital node sees it. */
export interface AssignedTask {
  readonly taskId: string;
  readonly round: number;
  /** "train" or "evaluate". */
  readonly kind: string;
  readonly modelVersion: number;
  readonly modelSha256: string;
  /** Hyper-parameters and options, validated by the node against the task schemas. */
  readonly configJson: string;
}

export type PullOutcome =
  | { readonly kind: "task"; readonly task: AssignedTask }
  | { readonly kind: "wait"; readonly retryAfterMs: number }
  | { readonly kind: "done"; readonly reason: string };

export interface ClientTls {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** Thin promise wrapper over the generated client; every error comes out as an FlError. */
export class CoordinatorConnection {
  private readonly client: FederationClient;

  constructor(address: string, tls?: ClientTls) {
    const credentials = tls
      ? grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null)
      : grpc.credentials.createInsecure();
    this.client = new FederationClient(address, credentials, GRPC_CHANNEL_OPTIONS);
  }

  close(): void {
    this.client.close();
  }

  getChallenge(siteId: string): Promise<ChallengeResponse> {
    return this.unary((cb) =>
      this.client.getChallenge({ siteId }, new grpc.Metadata(), this.deadline(30_000), cb),
    );
  }

  join(request: JoinRequest): Promise<JoinResponse> {
    return this.unary((cb) => this.client.join(request, new grpc.Metadata(), this.deadline(30_000), cb));
  }

  /** Long-polls for the next task; the wire message becomes a plain outcome here. */
  async pullTask(sessionToken: string, waitMs: number): Promise<PullOutcome> {
    const response = await this.unary<PullTaskResponse>((cb) =>
      this.client.pullTask({ sessionToken, waitMs }, new grpc.Metadata(), this.deadline(waitMs + 30_000), cb),
    );
    const result = response.result;
    switch (result?.$case) {
      case "task": {
        const { taskId, round, kind, modelVersion, modelSha256, configJson } = result.value;
        return { kind: "task", task: { taskId, round, kind, modelVersion, modelSha256, configJson } };
      }
      case "done":
        return { kind: "done", reason: result.value.reason };
      case "wait":
        return { kind: "wait", retryAfterMs: result.value.retryAfterMs };
      default:
        throw new FlError(
          ErrorCode.InvalidArgument,
          "the coordinator answered PullTask with neither a task, a wait nor done",
        );
    }
  }

  heartbeat(
    sessionToken: string,
    taskId: string,
    progress: number,
    status: string,
    failure = "",
  ): Promise<HeartbeatResponse> {
    return this.unary((cb) =>
      this.client.heartbeat(
        { sessionToken, taskId, progress, status, failure },
        new grpc.Metadata(),
        this.deadline(15_000),
        cb,
      ),
    );
  }

  reportEvaluation(report: EvaluationReport): Promise<void> {
    return this.unary((cb) =>
      this.client.reportEvaluation(report, new grpc.Metadata(), this.deadline(30_000), cb),
    ).then(() => undefined);
  }

  leave(sessionToken: string, reason: string): Promise<void> {
    return this.unary((cb) =>
      this.client.leave({ sessionToken, reason }, new grpc.Metadata(), this.deadline(5_000), cb),
    ).then(() => undefined);
  }

  /** Downloads a model version, checking offsets, total size and the final sha256. */
  downloadModel(sessionToken: string, modelVersion: number, expectedSha256: string): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const stream = this.client.downloadModel({ sessionToken, modelVersion }, this.deadline(600_000));
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
    sessionToken: string,
    packed: PackedUpdate,
    trainMetrics: Record<string, number>,
  ): Promise<UploadVerdict> {
    return new Promise((resolve, reject) => {
      const call = this.client.uploadUpdate(this.deadline(600_000), (error, verdict) => {
        if (error) reject(fromServiceError(error));
        else resolve(verdict);
      });
      const write = async () => {
        const send = (message: Parameters<typeof call.write>[0]) =>
          call.write(message) ? Promise.resolve() : new Promise<void>((ok) => call.once("drain", () => ok()));
        await send({
          part: {
            $case: "header",
            value: {
              sessionToken,
              manifest: packed.manifest,
              signature: Buffer.from(packed.signature),
              trainMetrics,
            },
          },
        });
        for (const [index, ciphertext] of packed.chunks.entries()) {
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
