import {
  createUploadParams,
  encryptChunk,
  type Identity,
  type PublicIdentity,
  sharedKey,
  signJoin,
  signManifest,
  type UpdateManifest,
} from "../../shared/src/crypto/index.js";
import type {
  EvaluationReport,
  Heartbeat,
  HeartbeatAck,
  PullOutcome,
  SealedUpdate,
  SiteInfo,
  UploadVerdict,
} from "../../shared/src/fl/messages.js";
import type { CoordinatorService } from "../../shared/src/fl/ports.js";
import type { FlTask } from "../../shared/src/fl/task.js";
import { rejectionVerdict } from "../../shared/src/fl/verdict.js";
import {
  chunkBytes,
  DEFAULT_CHUNK_BYTES,
  deserializeWeights,
  selectTensors,
  serializeWeights,
  sha256Hex,
  sharingRule,
  withSharing,
} from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";

export type TrainTask = Extract<FlTask, { kind: "train" }>;

/** What a test site declares at join: 100 training images, more than any test's update claims. */
export const TEST_SITE_INFO: SiteInfo = {
  trainClassCounts: [25, 25, 25, 25],
  trainUnlabelledCount: 0,
  validationCount: 0,
  testCount: 4,
  backend: "test",
  clientVersion: "test",
};
export type EvaluateTask = Extract<FlTask, { kind: "evaluate" }>;

/**
 * A scripted hospital that calls a coordinator service directly (no transport): it joins with a
 * signed challenge and seals real updates (signed manifest, encrypted chunks), but its
 * "training" is a delta the test chooses, so results are exact.
 */
export class InProcessSite {
  token = "";
  federationId = "";
  private readonly key: Uint8Array;

  constructor(
    readonly service: CoordinatorService,
    readonly identity: Identity,
    coordinator: PublicIdentity,
  ) {
    this.key = sharedKey(identity.encryption.secretKey, coordinator.encryptionPublicKey);
  }

  get id(): string {
    return this.identity.id;
  }

  /** Joins; `info: null` joins as a client that declares nothing about itself. */
  join(info: SiteInfo | null = TEST_SITE_INFO): this {
    const { challenge, federationId } = this.service.getChallenge(this.id);
    const signature = signJoin(this.identity, federationId, challenge);
    const grant = this.service.join({
      siteId: this.id,
      challenge,
      signature,
      ...(info && { info }),
    });
    this.token = grant.sessionToken;
    this.federationId = grant.federationId;
    return this;
  }

  /** A long-poll; with a manual clock it returns as soon as there is a task (or at "done"). */
  pull(waitMs = 30_000): Promise<PullOutcome> {
    return this.service.pullTask(this.token, waitMs);
  }

  /** The next training task; fails the test on anything else. */
  async trainTask(): Promise<TrainTask> {
    const task = await this.task();
    if (task.kind !== "train") throw new Error(`${this.id}: expected a training task, got ${task.kind}`);
    return task;
  }

  async evaluateTask(): Promise<EvaluateTask> {
    const task = await this.task();
    if (task.kind !== "evaluate")
      throw new Error(`${this.id}: expected an evaluation task, got ${task.kind}`);
    return task;
  }

  download(task: FlTask): ModelWeights {
    return deserializeWeights(this.service.model(this.token, task.modelVersion).bytes);
  }

  /** An update of the task's shared tensors whose every element is `fill` (or what it returns). */
  seal(
    task: TrainTask,
    fill: number | ((i: number) => number),
    numExamples: number,
    overrides: { delta?: ModelWeights; manifest?: Partial<UpdateManifest> } = {},
  ): SealedUpdate {
    const shared = selectTensors(withSharing(this.download(task), sharingRule(task.spec.local)), "shared");
    const values = Float32Array.from({ length: shared.values.length }, (_, i) =>
      typeof fill === "number" ? fill : fill(i),
    );
    const bytes = serializeWeights(overrides.delta ?? { manifest: shared.manifest, values });
    const plain = chunkBytes(bytes, DEFAULT_CHUNK_BYTES);
    const { uploadId, noncePrefix } = createUploadParams();
    const manifest: UpdateManifest = {
      federationId: this.federationId,
      siteId: this.id,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      uploadId,
      noncePrefix,
      contentSha256: sha256Hex(bytes),
      plaintextBytes: bytes.length,
      numChunks: plain.length,
      numExamples,
      createdAtMs: 0,
      ...overrides.manifest,
    };
    return {
      manifest,
      signature: signManifest(manifest, this.identity),
      chunks: plain.map((chunk, i) => encryptChunk(chunk, i, noncePrefix, this.key)),
    };
  }

  /** Sends a sealed update; a refusal comes back as the verdict, as a transport would answer. */
  upload(update: SealedUpdate, trainMetrics: Record<string, number> = { loss: 1 }): UploadVerdict {
    try {
      const sink = this.service.beginUpload(this.token, {
        manifest: update.manifest,
        signature: update.signature,
        trainMetrics,
      });
      for (const [i, chunk] of update.chunks.entries()) sink.addChunk(i, chunk);
      sink.finish();
      return { accepted: true };
    } catch (error) {
      return rejectionVerdict(error);
    }
  }

  /** Pulls its training task and delivers the delta `fill` for `numExamples` examples. */
  async train(fill: number, numExamples: number): Promise<UploadVerdict> {
    const task = await this.trainTask();
    return this.upload(this.seal(task, fill, numExamples));
  }

  heartbeat(task: FlTask, beat: Partial<Heartbeat> = {}): HeartbeatAck {
    return this.service.heartbeat(this.token, {
      taskId: task.taskId,
      progress: 0.5,
      status: "training",
      ...beat,
    });
  }

  /** Reports a confusion matrix for an evaluation task. */
  evaluate(task: EvaluateTask, confusion: number[][], overrides: Partial<EvaluationReport> = {}): void {
    this.service.reportEvaluation(this.token, {
      taskId: task.taskId,
      round: task.round,
      modelVersion: task.modelVersion,
      split: task.spec.split,
      numExamples: confusion.flat().reduce((a, b) => a + b, 0),
      confusion,
      metrics: {},
      ...overrides,
    });
  }

  leave(reason = "done"): void {
    this.service.leave(this.token, reason);
  }

  private async task(): Promise<FlTask> {
    const outcome = await this.pull();
    if (outcome.kind !== "task")
      throw new Error(`${this.id}: expected a task, got ${outcome.kind}: ${outcome.reason}`);
    return outcome.task;
  }
}
