import type { Identity, PublicIdentity } from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError, isFlError } from "../../shared/src/errors.js";
import { failureReport } from "../../shared/src/fl/limits.js";
import type { Heartbeat, HeartbeatAck, ReceivedPull, SiteInfo } from "../../shared/src/fl/messages.js";
import type { CoordinatorPort } from "../../shared/src/fl/ports.js";
import { LONG_POLL_MS } from "../../shared/src/fl/protocol-constants.js";
import { callBody, SessionMethod } from "../../shared/src/fl/session-calls.js";
import type { FlTask } from "../../shared/src/fl/task.js";
import {
  carryOverWeights,
  deserializeWeights,
  sharingRule,
  withSharing,
} from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import {
  classCountNoiseSource,
  DEFAULT_PRIVACY_POLICY,
  declaredSiteInfo,
  describePolicy,
  evaluationToSend,
  type PrivacyPolicy,
  refusalReason,
  taskRefusals,
  tensorRefusals,
  trainingMetricsToSend,
} from "./privacy-policy.js";
import { sealPayload, sealUpdate } from "./seal-update.js";
import { runSecAggSession } from "./secagg-session.js";
import { joinFederation, type SiteSession } from "./session.js";
import type { SiteTrainer, TrainOutcome } from "./training/trainer.js";
import type { TrainingSlots } from "./training-slots.js";
import { draftUpdate } from "./update-draft.js";

export interface SiteNodeOptions {
  readonly identity: Identity;
  /** The pinned coordinator: tasks, grants and the end must be signed by it. */
  readonly coordinator: PublicIdentity;
  /** The federation this hospital agreed to join. */
  readonly federationId: string;
  readonly port: CoordinatorPort;
  readonly trainer: SiteTrainer;
  readonly slots: TrainingSlots;
  readonly siteInfo: SiteInfo;
  readonly reconnectTimeoutMs: number;
  readonly log: (line: string) => void;
  readonly onProgress?: (p: { round: number; kind: string; fraction: number; status: string }) => void;
  /**
   * Says whether an unreachable coordinator is in fact a configuration that no retry mends (a TLS
   * certificate or host name that does not fit): the error to stop with, naming the settings.
   */
  readonly diagnoseUnreachable?: (error: FlError) => FlError | undefined;
  /** Pause before the n-th consecutive refused join (default: doubling from 0.5 s to 8 s). */
  readonly rejoinDelayMs?: (failedJoins: number) => number;
  /** This hospital's privacy policy; by default nothing is refused and everything reported. */
  readonly privacy?: PrivacyPolicy;
}

/**
 * Joins refused in a row before the site gives up: a coordinator that restarted accepts the next
 * join, so a refusal that persists (a certificate of another site, say) will not change.
 */
export const MAX_FAILED_JOINS = 5;

function defaultRejoinDelayMs(failedJoins: number): number {
  return Math.min(500 * 2 ** (failedJoins - 1), 8000);
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
  private session: SiteSession | undefined;
  /** This site's weights after its last training round, local tensors included. */
  private localWeights: ModelWeights | undefined;
  private unreachableSince: number | undefined;
  private failedJoins = 0;
  private stopped = false;
  private readonly policy: PrivacyPolicy;
  /** What this site declares at each join: its counts as its policy lets them out, drawn once. */
  private readonly declaredInfo: SiteInfo;

  constructor(private readonly options: SiteNodeOptions) {
    this.policy = options.privacy ?? DEFAULT_PRIVACY_POLICY;
    const { siteInfo, identity, federationId } = options;
    const noise = classCountNoiseSource(identity.signing.secretKey, federationId, siteInfo.trainClassCounts);
    this.declaredInfo = declaredSiteInfo(this.policy, siteInfo, noise);
    const described = describePolicy(this.policy);
    if (described) options.log(described);
  }

  stop(): void {
    this.stopped = true;
  }

  /** Runs until the coordinator says the federation is done. */
  async run(): Promise<{ reason: string }> {
    const { port, log } = this.options;
    while (!this.stopped) {
      let joining = false;
      try {
        joining = this.session === undefined;
        const session = this.session ?? (await this.join());
        joining = false;
        const auth = session.authorize(SessionMethod.PullTask, callBody.pullTask(LONG_POLL_MS));
        const outcome = session.checkPull(auth, await port.pullTask(auth, LONG_POLL_MS));
        this.unreachableSince = undefined;
        if (outcome.kind === "done") {
          log(`federation finished: ${outcome.reason}`);
          await this.leave(session, "federation finished");
          return { reason: outcome.reason };
        }
        await this.handle(session, outcome);
      } catch (error) {
        await this.recover(error, joining);
      }
    }
    if (this.session) await this.leave(this.session, "client stopped");
    return { reason: "stopped" };
  }

  /** A polite goodbye; nothing depends on it arriving. */
  private async leave(session: SiteSession, reason: string): Promise<void> {
    const auth = session.authorize(SessionMethod.Leave, callBody.leave(reason));
    await this.options.port.leave(auth, reason).catch(() => {});
  }

  /** Tells the coordinator how the task goes; the answer says whether it still wants it. */
  private async heartbeat(session: SiteSession, beat: Heartbeat): Promise<HeartbeatAck> {
    const auth = session.authorize(SessionMethod.Heartbeat, callBody.heartbeat(beat));
    return session.checkHeartbeatAck(auth, await this.options.port.heartbeat(auth, beat));
  }

  private download(session: SiteSession, task: FlTask): Promise<Uint8Array> {
    const auth = session.authorize(SessionMethod.DownloadModel, callBody.downloadModel(task.modelVersion));
    return this.options.port.downloadModel(auth, task.modelVersion, task.modelSha256);
  }

  private async handle(
    session: SiteSession,
    outcome: Exclude<ReceivedPull, { kind: "done" }>,
  ): Promise<void> {
    switch (outcome.kind) {
      case "task": {
        // Checked before anything is downloaded or read: a refused task sends only its reason.
        const refusals = taskRefusals(this.policy, outcome.task);
        if (refusals.length > 0) return this.refuse(session, outcome.task, refusals);
        return this.runTask(session, outcome.task);
      }
      case "unrunnable":
        // Reported at once, so that the round need not wait for the task's deadline.
        this.options.log(`round ${outcome.round}: cannot run the task: ${outcome.reason}`);
        await this.heartbeat(session, {
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

  private async join(): Promise<SiteSession> {
    const { port, identity, coordinator, federationId, log } = this.options;
    const siteInfo = this.declaredInfo;
    this.session = await joinFederation({ port, identity, coordinator, federationId, siteInfo });
    this.failedJoins = 0;
    log(`joined federation "${federationId}" as ${identity.id}`);
    return this.session;
  }

  /** Refuses a task that breaks this site's privacy policy: the reason is all the coordinator gets. */
  private async refuse(session: SiteSession, task: FlTask, reasons: readonly string[]): Promise<void> {
    const reason = refusalReason(reasons);
    this.options.log(`round ${task.round}: ${task.kind} task ${task.taskId} ${reason}`);
    await this.heartbeat(session, {
      taskId: task.taskId,
      progress: 0,
      status: "failed",
      failure: failureReport(new FlError(ErrorCode.FailedPrecondition, reason)),
    });
  }

  /** Decides what an error means: rejoin, retry later, or give up. */
  private async recover(error: unknown, joining: boolean): Promise<void> {
    const { log, reconnectTimeoutMs } = this.options;
    if (isFlError(error, ErrorCode.Unauthenticated)) {
      this.session = undefined;
      if (!joining) {
        // The coordinator says why (it restarted, or counted this site as lost while its link
        // was down): guessing here told operators of a link cut that the coordinator restarted.
        log(`session no longer valid: ${error.message.replace(/: join again$/, "")}; joining again`);
        return;
      }
      this.failedJoins++;
      if (this.failedJoins >= MAX_FAILED_JOINS)
        throw new FlError(
          ErrorCode.Unauthenticated,
          `the coordinator refused this site's join ${this.failedJoins} times in a row; giving up: ${error.message}`,
          { cause: error },
        );
      const delayMs = (this.options.rejoinDelayMs ?? defaultRejoinDelayMs)(this.failedJoins);
      log(
        `the coordinator refused the join: ${error.message}; trying again in ${delayMs / 1000} s (${this.failedJoins} of ${MAX_FAILED_JOINS})`,
      );
      await sleep(delayMs);
      return;
    }
    if (isFlError(error, ErrorCode.Timeout)) {
      const misconfigured = this.options.diagnoseUnreachable?.(error);
      if (misconfigured) throw misconfigured;
      if (this.unreachableSince === undefined)
        log(`${error.message}; retrying for up to ${Math.round(reconnectTimeoutMs / 1000)} s`);
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
    // Nothing a retry could mend: this site is refused, the coordinator is not the configured
    // one, or the two are configured for different federations.
    if (
      isFlError(error, ErrorCode.UnknownSite) ||
      isFlError(error, ErrorCode.SignatureInvalid) ||
      isFlError(error, ErrorCode.InvalidConfig)
    )
      throw error;
    log(`error: ${errorMessage(error)}; continuing`);
    await sleep(1000);
  }

  /**
   * Runs a task while heartbeating; a task this site cannot finish is reported as failed. A
   * heartbeat answered `taskActive: false` means the coordinator has already settled the task
   * (its deadline passed, or it counted this site as lost): its result would be stale, so it is
   * not sent.
   */
  private async runTask(session: SiteSession, task: FlTask): Promise<void> {
    const { log } = this.options;
    const progress: TaskProgress = { fraction: 0, status: "downloading" };
    const ended = new AbortController();
    const beat = setInterval(() => {
      this.heartbeat(session, { taskId: task.taskId, progress: progress.fraction, status: progress.status })
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
        await this.heartbeat(session, {
          taskId: task.taskId,
          progress: progress.fraction,
          status: "failed",
          failure: failureReport(error),
        }).catch(() => {});
      }
      throw error;
    } finally {
      clearInterval(beat);
    }
  }

  private async evaluate(
    session: SiteSession,
    task: Extract<FlTask, { kind: "evaluate" }>,
    progress: TaskProgress,
    ended: AbortSignal,
  ): Promise<void> {
    const { port, trainer, log } = this.options;
    const global = deserializeWeights(await this.download(session, task));
    progress.status = "evaluating";
    const result = await trainer.evaluate(task.spec, global);
    if (this.endedByCoordinator(task, ended, "the evaluation is not reported")) return;
    const report = evaluationToSend(this.policy, {
      taskId: task.taskId,
      round: task.round,
      modelVersion: task.modelVersion,
      split: task.spec.split,
      numExamples: result.numExamples,
      confusion: result.confusion,
      metrics: result.metrics,
      ...(result.statistics && { statistics: result.statistics }),
    });
    const auth = session.authorize(SessionMethod.ReportEvaluation, callBody.reportEvaluation(report));
    await port.reportEvaluation(auth, report);
    this.report(task, progress, 1, "evaluated");
    log(
      `round ${task.round}: evaluated model v${task.modelVersion} on ${result.numExamples} ${task.spec.split} images`,
    );
  }

  private async train(
    session: SiteSession,
    task: Extract<FlTask, { kind: "train" }>,
    progress: TaskProgress,
    ended: AbortSignal,
  ): Promise<void> {
    const { port, trainer, slots, identity, log } = this.options;
    const { spec } = task;
    const bytes = await this.download(session, task);
    // The phase says which tensors stay here: they keep this site's values (where name and shape
    // still fit), the shared ones come from the global model.
    const rule = sharingRule(spec.local);
    const global = withSharing(deserializeWeights(bytes), rule);
    const outside = tensorRefusals(
      this.policy,
      global.manifest.tensors.filter((t) => t.sharing === "shared").map((t) => t.name),
    );
    if (outside.length > 0) return this.refuse(session, task, outside);
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
    // After the client stages, so that the metrics they add (clip.norm, …) follow the policy too.
    const trainMetrics = trainingMetricsToSend(this.policy, update.metrics, spec.pipeline);
    if (spec.privacy.secureAggregation) {
      progress.status = "secure aggregation";
      const outcome = await runSecAggSession({
        siteId: identity.id,
        port,
        session,
        task,
        delta: update.delta.values,
        numExamples: update.numExamples,
        upload: (plaintext) => this.uploadPayload(session, task, plaintext, update.numExamples, trainMetrics),
        ended,
        log,
      });
      log(
        outcome.kind === "unmasked"
          ? `round ${task.round}: masked update sent and unmasking answered (${update.numExamples} examples)`
          : `round ${task.round}: secure aggregation ended for this site: ${outcome.reason}`,
      );
      return;
    }
    progress.status = "uploading";
    const sealed = await sealUpdate({
      delta: update.delta,
      identity,
      key: session.updateKey,
      federationId: session.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples: update.numExamples,
    });
    const auth = session.authorize(
      SessionMethod.UploadUpdate,
      callBody.uploadUpdate({ signature: sealed.signature, trainMetrics }),
    );
    const verdict = await port.uploadUpdate(auth, sealed, trainMetrics);
    if (verdict.accepted)
      log(
        `round ${task.round}: update accepted (${update.numExamples} examples, loss ${update.metrics.loss?.toFixed(4)})`,
      );
    else log(`round ${task.round}: update rejected: ${verdict.reasonCode}: ${verdict.message}`);
  }

  /** A masked secure-aggregation input through the same sealed, signed upload as any update. */
  private async uploadPayload(
    session: SiteSession,
    task: Extract<FlTask, { kind: "train" }>,
    plaintext: Uint8Array,
    numExamples: number,
    metrics: Readonly<Record<string, number>>,
  ) {
    const sealed = await sealPayload(
      {
        identity: this.options.identity,
        key: session.updateKey,
        federationId: session.federationId,
        round: task.round,
        modelVersion: task.modelVersion,
        taskId: task.taskId,
        numExamples,
      },
      plaintext,
    );
    const auth = session.authorize(
      SessionMethod.UploadUpdate,
      callBody.uploadUpdate({ signature: sealed.signature, trainMetrics: metrics }),
    );
    return this.options.port.uploadUpdate(auth, sealed, metrics);
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
