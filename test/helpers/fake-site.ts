import { sealUpdateInThread } from "../../client/src/seal-update.js";
import { joinFederation, type SiteSession } from "../../client/src/session.js";
import { GrpcCoordinatorPort } from "../../client/src/transport/grpc/coordinator-client.js";
import type { ClientTls } from "../../client/src/transport/grpc/credentials.js";
import type { Identity, PublicIdentity } from "../../shared/src/crypto/index.js";
import type { SealedUpdate, UploadVerdict } from "../../shared/src/fl/messages.js";
import { callBody, SessionMethod } from "../../shared/src/fl/session-calls.js";
import type { FlTask } from "../../shared/src/fl/task.js";
import type { EvaluationStatistics } from "../../shared/src/metrics/evaluation-statistics.js";
import { deserializeWeights, selectTensors } from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import { TEST_SITE_INFO } from "./in-process-site.js";

/**
 * A scripted hospital for protocol tests: speaks real gRPC through the production client adapter
 * and update sealing, but its "training" is a delta the test chooses, so results are exact.
 */
export class FakeSite {
  readonly connection: GrpcCoordinatorPort;
  private current: SiteSession | undefined;

  constructor(
    address: string,
    readonly identity: Identity,
    private readonly coordinator: PublicIdentity,
    tls?: ClientTls,
    /** The federation the site is configured for; by default whichever the coordinator names. */
    private readonly configuredFederationId?: string,
  ) {
    this.connection = new GrpcCoordinatorPort(address, tls ?? "insecure");
  }

  get session(): SiteSession {
    if (!this.current) throw new Error(`${this.identity.id} has not joined`);
    return this.current;
  }

  get token(): string {
    return this.session.token;
  }

  get federationId(): string {
    return this.session.federationId;
  }

  /** Joins with the client's own handshake: the coordinator's signatures are checked. */
  async join(): Promise<void> {
    const federationId =
      this.configuredFederationId ??
      (await this.connection.getChallenge({ siteId: this.identity.id, clientNonce: new Uint8Array(32) }))
        .federationId;
    this.current = await joinFederation({
      port: this.connection,
      identity: this.identity,
      coordinator: this.coordinator,
      federationId,
      siteInfo: TEST_SITE_INFO,
    });
  }

  /** Long-polls until a task arrives (or "done"), rejoining after a coordinator restart. */
  async nextTask(timeoutMs = 30_000): Promise<FlTask | "done"> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      try {
        const auth = this.session.authorize(SessionMethod.PullTask, callBody.pullTask(2000));
        const outcome = this.session.checkPull(auth, await this.connection.pullTask(auth, 2000));
        if (outcome.kind === "task") return outcome.task;
        if (outcome.kind === "done") return "done";
        if (outcome.kind === "unrunnable") throw new Error(`${this.identity.id}: ${outcome.reason}`);
      } catch {
        await new Promise((r) => setTimeout(r, 200));
        await this.join().catch(() => {});
      }
    }
    throw new Error(`${this.identity.id}: no task within ${timeoutMs} ms`);
  }

  async download(task: FlTask): Promise<ModelWeights> {
    return deserializeWeights(
      await this.connection.downloadModel(
        this.session.authorize(SessionMethod.DownloadModel, callBody.downloadModel(task.modelVersion)),
        task.modelVersion,
        task.modelSha256,
      ),
    );
  }

  /** An update whose every shared element is `value` (or what `fill` returns). */
  pack(
    task: FlTask,
    global: ModelWeights,
    fill: number | ((i: number) => number),
    numExamples: number,
    overrides: Partial<Parameters<typeof sealUpdateInThread>[0]> = {},
  ): SealedUpdate {
    const shared = selectTensors(global, "shared");
    const values = new Float32Array(shared.values.length);
    for (let i = 0; i < values.length; i++) values[i] = typeof fill === "number" ? fill : fill(i);
    return sealUpdateInThread({
      delta: { manifest: shared.manifest, values },
      identity: this.identity,
      key: this.session.updateKey,
      federationId: this.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples,
      ...overrides,
    });
  }

  upload(sealed: SealedUpdate): Promise<UploadVerdict> {
    const trainMetrics = { loss: 1 };
    const auth = this.session.authorize(
      SessionMethod.UploadUpdate,
      callBody.uploadUpdate({ signature: sealed.signature, trainMetrics }),
    );
    return this.connection.uploadUpdate(auth, sealed, trainMetrics);
  }

  /** Reports a confusion matrix (and no other metrics, statistics if given) for an evaluation task. */
  evaluate(task: FlTask, confusion: number[][], statistics?: EvaluationStatistics): Promise<void> {
    if (task.kind !== "evaluate") throw new Error(`${this.identity.id}: ${task.taskId} is not an evaluation`);
    const report = {
      taskId: task.taskId,
      round: task.round,
      modelVersion: task.modelVersion,
      split: task.spec.split,
      numExamples: confusion.flat().reduce((a, b) => a + b, 0),
      confusion,
      metrics: {},
      ...(statistics && { statistics }),
    };
    const auth = this.session.authorize(SessionMethod.ReportEvaluation, callBody.reportEvaluation(report));
    return this.connection.reportEvaluation(auth, report);
  }

  close(): void {
    this.connection.close();
  }
}
