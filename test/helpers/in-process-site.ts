import { JoinHandshake, type SiteSession } from "../../client/src/session.js";
import {
  createUploadParams,
  encryptChunk,
  type Identity,
  type PublicIdentity,
  signManifest,
  type UpdateManifest,
} from "../../shared/src/crypto/index.js";
import type {
  EvaluationReport,
  Heartbeat,
  HeartbeatAck,
  ModelBlob,
  PullOutcome,
  RequestAuth,
  SealedUpdate,
  SiteInfo,
  UploadHeader,
  UploadVerdict,
} from "../../shared/src/fl/messages.js";
import type { CoordinatorService, UploadSink } from "../../shared/src/fl/ports.js";
import { callBody, SessionMethod, signedTaskFields } from "../../shared/src/fl/session-calls.js";
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
 * A scripted hospital that calls a coordinator service directly (no transport): it joins with the
 * client's own handshake (the coordinator's signatures checked, every call MACed by the client's
 * session) and seals real updates (signed manifest, encrypted chunks), but its "training" is a
 * delta the test chooses, so results are exact.
 */
export class InProcessSite {
  private current: SiteSession | undefined;

  constructor(
    readonly service: CoordinatorService,
    readonly identity: Identity,
    private readonly coordinator: PublicIdentity,
    /** The federation the site is configured for (the coordinator's own unless a test says otherwise). */
    private readonly federationId = "test",
  ) {}

  get id(): string {
    return this.identity.id;
  }

  get session(): SiteSession {
    if (!this.current) throw new Error(`${this.id} has not joined`);
    return this.current;
  }

  get token(): string {
    return this.session.token;
  }

  /** Joins; `info: null` joins as a client that declares nothing about itself. */
  join(info: SiteInfo | null = TEST_SITE_INFO): this {
    const handshake = new JoinHandshake({
      identity: this.identity,
      coordinator: this.coordinator,
      federationId: this.federationId,
      channelBinding: "",
    });
    const offered = this.service.getChallenge(handshake.request);
    this.current = handshake.accept(this.service.join(handshake.answer(offered, info ?? undefined)));
    return this;
  }

  /** Authenticates one call of this site's session (a fresh sequence number and its MAC). */
  auth(method: SessionMethod, body: unknown): RequestAuth {
    return this.session.authorize(method, body);
  }

  /**
   * A long-poll; with a manual clock it returns as soon as there is a task (or at "done"). The
   * coordinator's signature on a task or the end is checked as the client checks it.
   */
  async pull(waitMs = 30_000): Promise<PullOutcome> {
    const auth = this.auth(SessionMethod.PullTask, callBody.pullTask(waitMs));
    const outcome = await this.service.pullTask(auth, waitMs);
    switch (outcome.kind) {
      case "task": {
        const { signature, task } = outcome;
        this.session.checkPull(auth, { kind: "task", task, signed: signedTaskFields(task), signature });
        return { kind: "task", task };
      }
      case "done":
        this.session.checkPull(auth, outcome);
        return { kind: "done", reason: outcome.reason };
      case "wait":
        return outcome;
    }
  }

  model(version: number): ModelBlob {
    return this.service.model(
      this.auth(SessionMethod.DownloadModel, callBody.downloadModel(version)),
      version,
    );
  }

  beginUpload(header: UploadHeader): UploadSink {
    return this.service.beginUpload(
      this.auth(SessionMethod.UploadUpdate, callBody.uploadUpdate(header)),
      header,
    );
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
    return deserializeWeights(this.model(task.modelVersion).bytes);
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
      federationId: this.session.federationId,
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
      chunks: plain.map((chunk, i) => encryptChunk(chunk, i, noncePrefix, this.session.updateKey)),
    };
  }

  /** Sends a sealed update; a refusal comes back as the verdict, as a transport would answer. */
  async upload(
    update: SealedUpdate,
    trainMetrics: Record<string, number> = { loss: 1 },
  ): Promise<UploadVerdict> {
    try {
      const sink = this.beginUpload({ manifest: update.manifest, signature: update.signature, trainMetrics });
      // Copies: the coordinator takes its chunks over, and tests send an update again.
      for (const [i, chunk] of update.chunks.entries()) sink.addChunk(i, chunk.slice());
      await sink.finish();
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

  /** A heartbeat whose answer is checked as the client checks it. */
  heartbeat(task: FlTask, beat: Partial<Heartbeat> = {}): HeartbeatAck {
    const full = { taskId: task.taskId, progress: 0.5, status: "training", ...beat };
    const auth = this.auth(SessionMethod.Heartbeat, callBody.heartbeat(full));
    return this.session.checkHeartbeatAck(auth, this.service.heartbeat(auth, full));
  }

  /** Reports a confusion matrix for an evaluation task. */
  /** Sends an evaluation report as it is. */
  report(report: EvaluationReport): void {
    this.service.reportEvaluation(
      this.auth(SessionMethod.ReportEvaluation, callBody.reportEvaluation(report)),
      report,
    );
  }

  evaluate(task: EvaluateTask, confusion: number[][], overrides: Partial<EvaluationReport> = {}): void {
    const report = {
      taskId: task.taskId,
      round: task.round,
      modelVersion: task.modelVersion,
      split: task.spec.split,
      numExamples: confusion.flat().reduce((a, b) => a + b, 0),
      confusion,
      metrics: {},
      ...overrides,
    };
    this.service.reportEvaluation(
      this.auth(SessionMethod.ReportEvaluation, callBody.reportEvaluation(report)),
      report,
    );
  }

  leave(reason = "done"): void {
    this.service.leave(this.auth(SessionMethod.Leave, callBody.leave(reason)), reason);
  }

  private async task(): Promise<FlTask> {
    const outcome = await this.pull();
    if (outcome.kind !== "task")
      throw new Error(`${this.id}: expected a task, got ${outcome.kind}: ${outcome.reason}`);
    return outcome.task;
  }
}
