import { type Identity, type PublicIdentity, sharedKey, signJoin } from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError, isFlError } from "../../shared/src/errors.js";
import { failureReport } from "../../shared/src/fl/limits.js";
import type { ReceivedPull, SiteInfo } from "../../shared/src/fl/messages.js";
import type { CoordinatorPort } from "../../shared/src/fl/ports.js";
import { LONG_POLL_MS } from "../../shared/src/fl/protocol-constants.js";
import type { FlTask } from "../../shared/src/fl/task.js";
import {
  carryOverWeights,
  deserializeWeights,
  sharingRule,
  withSharing,
} from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import { sealUpdate } from "./seal-update.js";
import type { SiteTrainer, TrainOutcome } from "./training/trainer.js";
import type { TrainingSlots } from "./training-slots.js";
import { draftUpdate } from "./update-draft.js";

export interface SiteNodeOptions {
  readonly identity: Identity;
  readonly coordinator: PublicIdentity;
  readonly port: CoordinatorPort;
  readonly trainer: SiteTrainer;
  readonly slots: TrainingSlots;
  readonly siteInfo: SiteInfo;
  readonly reconnectTimeoutMs: number;
  readonly log: (line: string) => void;
  readonly onProgress?: (p: { round: number; kind: string; fraction: number; status: string }) => void;
}

interface Session {
  readonly token: string;
  readonly federationId: string;
  /** The site–coordinator key updates are sealed with. */
  readonly key: Uint8Array;
  readonly heartbeatIntervalMs: number;
}

/** What a running task tells the coordinator on each heartbeat. */
interface TaskProgress {
  fraction: number;
  status: string;
}

/**
 * A hospital node: joins, long-polls for tasks, trains or evaluates in its trainer process while
 * heartbeating, and uploads sealed updates. Coordinator restarts and network blips are retried;
 * tensors declared local never leave the site and survive between rounds.
 */
export class SiteNode {
  private session: Session | undefined;
  /** This site's weights after its last training round, local tensors included. */
  private localWeights: ModelWeights | undefined;
  private unreachableSince: number | undefined;
  private stopped = false;

  constructor(private readonly options: SiteNodeOptions) {}

  stop(): void {
    this.stopped = true;
  }

  /** Runs until the coordinator says the federation is done. */
  async run(): Promise<{ reason: string }> {
    const { port, log } = this.options;
    while (!this.stopped) {
      try {
        const session = this.session ?? (await this.join());
        const outcome = await port.pullTask(session.token, LONG_POLL_MS);
        this.unreachableSince = undefined;
        if (outcome.kind === "done") {
          log(`federation finished: ${outcome.reason}`);
          await port.leave(session.token, "federation finished").catch(() => {});
          return { reason: outcome.reason };
        }
        await this.handle(session, outcome);
      } catch (error) {
        await this.recover(error);
      }
    }
    if (this.session) await port.leave(this.session.token, "client stopped").catch(() => {});
    return { reason: "stopped" };
  }

  private async handle(session: Session, outcome: Exclude<ReceivedPull, { kind: "done" }>): Promise<void> {
    switch (outcome.kind) {
      case "task":
        return this.runTask(session, outcome.task);
      case "unrunnable":
        // Reported at once, so that the round need not wait for the task's deadline.
        this.options.log(`round ${outcome.round}: cannot run the task: ${outcome.reason}`);
        await this.options.port.heartbeat(session.token, {
          taskId: outcome.taskId,
          progress: 0,
          status: "failed",
          failure: outcome.reason,
        });
        return;
      case "wait":
        if (outcome.retryAfterMs > 0) await sleep(outcome.retryAfterMs);
        return;
    }
  }

  private async join(): Promise<Session> {
    const { port, identity, coordinator, siteInfo, log } = this.options;
    const challenge = await port.getChallenge(identity.id);
    const joined = await port.join({
      siteId: identity.id,
      challenge: challenge.challenge,
      signature: signJoin(identity, challenge.federationId, challenge.challenge),
      info: siteInfo,
    });
    if (
      !Buffer.from(joined.coordinatorEncryptionPublicKey).equals(Buffer.from(coordinator.encryptionPublicKey))
    ) {
      throw new FlError(
        ErrorCode.SignatureInvalid,
        "the coordinator's encryption key differs from the configured coordinatorPublicKey: refusing to send updates to it",
      );
    }
    this.session = {
      token: joined.sessionToken,
      federationId: joined.federationId,
      key: sharedKey(identity.encryption.secretKey, coordinator.encryptionPublicKey),
      heartbeatIntervalMs: joined.heartbeatIntervalMs || 2000,
    };
    log(`joined federation "${joined.federationId}" as ${identity.id}`);
    return this.session;
  }

  /** Decides what an error means: rejoin, retry later, or give up. */
  private async recover(error: unknown): Promise<void> {
    const { log, reconnectTimeoutMs } = this.options;
    if (isFlError(error, ErrorCode.Unauthenticated)) {
      log("session no longer valid (coordinator restarted?): joining again");
      this.session = undefined;
      return;
    }
    if (isFlError(error, ErrorCode.Timeout)) {
      this.unreachableSince ??= Date.now();
      if (Date.now() - this.unreachableSince > reconnectTimeoutMs) {
        throw new FlError(
          ErrorCode.Timeout,
          `coordinator unreachable for ${Math.round(reconnectTimeoutMs / 1000)} s; giving up`,
          { cause: error },
        );
      }
      this.session = undefined;
      await sleep(1000);
      return;
    }
    if (isFlError(error, ErrorCode.UnknownSite) || isFlError(error, ErrorCode.SignatureInvalid)) throw error;
    log(`error: ${errorMessage(error)}; continuing`);
    await sleep(1000);
  }

  /**
   * Runs a task while heartbeating; a task this site cannot finish is reported as failed. A
   * heartbeat answered `taskActive: false` means the coordinator has already settled the task
   * (its deadline passed, or it counted this site as lost): its result would be stale, so it is
   * not sent.
   */
  private async runTask(session: Session, task: FlTask): Promise<void> {
    const { port, log } = this.options;
    const progress: TaskProgress = { fraction: 0, status: "downloading" };
    const ended = new AbortController();
    const beat = setInterval(() => {
      port
        .heartbeat(session.token, {
          taskId: task.taskId,
          progress: progress.fraction,
          status: progress.status,
        })
        .then((ack) => {
          if (!ack.taskActive) ended.abort();
        })
        .catch(() => {});
    }, session.heartbeatIntervalMs);
    try {
      if (task.kind === "evaluate") await this.evaluate(session, task, progress, ended.signal);
      else await this.train(session, task, progress, ended.signal);
    } catch (error) {
      // A task this site cannot finish is reported at once, so the round need not wait for the
      // deadline; connection problems are left to the retry loop.
      if (!isFlError(error, ErrorCode.Timeout) && !isFlError(error, ErrorCode.Unauthenticated)) {
        log(`round ${task.round}: giving up on the ${task.kind} task: ${errorMessage(error)}`);
        await port
          .heartbeat(session.token, {
            taskId: task.taskId,
            progress: progress.fraction,
            status: "failed",
            failure: failureReport(error),
          })
          .catch(() => {});
      }
      throw error;
    } finally {
      clearInterval(beat);
    }
  }

  private async evaluate(
    session: Session,
    task: Extract<FlTask, { kind: "evaluate" }>,
    progress: TaskProgress,
    ended: AbortSignal,
  ): Promise<void> {
    const { port, trainer, log } = this.options;
    const global = deserializeWeights(
      await port.downloadModel(session.token, task.modelVersion, task.modelSha256),
    );
    progress.status = "evaluating";
    const result = await trainer.evaluate(task.spec, global);
    if (this.endedByCoordinator(task, ended, "the evaluation is not reported")) return;
    await port.reportEvaluation(session.token, {
      taskId: task.taskId,
      round: task.round,
      modelVersion: task.modelVersion,
      split: task.spec.split,
      numExamples: result.numExamples,
      confusion: result.confusion,
      metrics: result.metrics,
    });
    this.report(task, progress, 1, "evaluated");
    log(
      `round ${task.round}: evaluated model v${task.modelVersion} on ${result.numExamples} ${task.spec.split} images`,
    );
  }

  private async train(
    session: Session,
    task: Extract<FlTask, { kind: "train" }>,
    progress: TaskProgress,
    ended: AbortSignal,
  ): Promise<void> {
    const { port, trainer, slots, identity, log } = this.options;
    const { spec } = task;
    const bytes = await port.downloadModel(session.token, task.modelVersion, task.modelSha256);
    // The phase says which tensors stay here: they keep this site's values (where name and shape
    // still fit), the shared ones come from the global model.
    const rule = sharingRule(spec.local);
    const global = withSharing(deserializeWeights(bytes), rule);
    const start = this.localWeights
      ? carryOverWeights(this.localWeights, global, (name) => rule(name) === "local").weights
      : global;
    progress.status = "waiting for a training slot";
    const release = await slots.acquire();
    let trained: TrainOutcome;
    try {
      if (this.endedByCoordinator(task, ended, "not training")) return;
      this.report(task, progress, 0, "training");
      trained = await trainer.train(spec, start, (fraction, status) =>
        this.report(task, progress, fraction, status),
      );
    } finally {
      release();
    }
    // The trainer process cannot be interrupted mid-round, so a task ended meanwhile is only
    // noticed here; its local tensors are not kept either, as if the round had not run.
    if (this.endedByCoordinator(task, ended, "the trained update is dropped, not uploaded")) return;
    const trainedWeights = withSharing(trained.weights, rule);
    this.localWeights = trainedWeights;
    const update = draftUpdate({
      trained: trainedWeights,
      global,
      numExamples: trained.numExamples,
      metrics: trained.metrics,
      pipeline: spec.pipeline,
      context: { siteId: identity.id, round: task.round, phase: task.phase },
    });
    progress.status = "uploading";
    const sealed = sealUpdate({
      delta: update.delta,
      identity,
      key: session.key,
      federationId: session.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples: update.numExamples,
    });
    const verdict = await port.uploadUpdate(session.token, sealed, update.metrics);
    if (verdict.accepted)
      log(
        `round ${task.round}: update accepted (${update.numExamples} examples, loss ${update.metrics.loss?.toFixed(4)})`,
      );
    else log(`round ${task.round}: update rejected: ${verdict.reasonCode}: ${verdict.message}`);
  }

  private endedByCoordinator(task: FlTask, ended: AbortSignal, consequence: string): boolean {
    if (ended.aborted)
      this.options.log(
        `round ${task.round}: the coordinator no longer expects the ${task.kind} task ${task.taskId} (it ended it): ${consequence}`,
      );
    return ended.aborted;
  }

  private report(task: FlTask, progress: TaskProgress, fraction: number, status: string): void {
    progress.fraction = fraction;
    progress.status = status;
    this.options.onProgress?.({ round: task.round, kind: task.kind, fraction, status });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
