import { ErrorCode, errorMessage, FlError } from "../../../shared/src/errors.js";
import type { ModelSpec } from "../../../shared/src/fl/model-spec.js";
import { runAggregateStages, type UpdatePipeline } from "../../../shared/src/fl/pipeline.js";
import { PLAN_COMPLETE_REASON } from "../../../shared/src/fl/protocol-constants.js";
import type { StageConfig } from "../../../shared/src/fl/stages/index.js";
import type { FlTask, TaskSpec } from "../../../shared/src/fl/task.js";
import { networkFor } from "../../../shared/src/fl/task-kinds.js";
import {
  carryOverWeights,
  matchingTensors,
  mergeTensors,
  selectTensors,
  sharingRule,
  withSharing,
} from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { CENTRAL_SITE_ID, type CentralEvaluation } from "../central-evaluation.js";
import { type Phase, type Plan, shouldEvaluate, slotOf, totalRounds } from "../plan.js";
import type { DpLedger, RoundDp } from "../privacy/dp-ledger.js";
import {
  openDpLedger,
  publishedTrainMetrics,
  roundTrainTask,
  UNCLIPPED_METRIC,
} from "../privacy/dp-round.js";
import { sampleSites } from "../sampling.js";
import { COMPLETED_EARLY_META } from "../store/records.js";
import { hasServerState } from "../strategy/server-optimizers.js";
import type { RoundAggregation, Strategy } from "../strategy/strategy.js";
import type { Clock } from "./clock.js";
import type { EvaluationIntake } from "./evaluation-intake.js";
import type { FederationEvents } from "./events.js";
import type { GlobalModel } from "./global-model.js";
import { openSecAggRound, type SecAggOutcome, type SecAggRounds, withSecAgg } from "./secagg-round.js";
import type { Sessions } from "./sessions.js";
import type { FederationStore } from "./store.js";
import type { SettledRound, TaskBoard, TaskFailure } from "./task-board.js";
import { evaluates, evaluateTaskSpec, trainTaskSpec } from "./task-specs.js";
import type { UploadIntake } from "./upload-intake.js";

export interface RunResult {
  readonly status: "completed" | "failed";
  readonly reason: string;
}

export interface RoundRunnerOptions {
  readonly plan: Plan;
  readonly model: ModelSpec;
  readonly store: FederationStore;
  readonly global: GlobalModel;
  /** Makes the aggregation strategy; a fresh one starts with each phase (its shared tensors differ). */
  readonly createStrategy: () => Strategy;
  /** The seeded initial weights of a network (every phase's network starts from its own). */
  readonly initialWeights: (spec: ModelSpec) => ModelWeights;
  /** Builds a phase's update pipeline from its plan entries. */
  readonly buildPipeline: (configs: readonly StageConfig[]) => UpdatePipeline;
  readonly board: TaskBoard;
  readonly sessions: Sessions;
  readonly uploads: UploadIntake;
  /** Where the open round's secure aggregation is reached (when the plan has `secureAggregation`). */
  readonly secagg?: SecAggRounds;
  readonly evaluations: EvaluationIntake;
  /** Scores versions on the coordinator's own test set next to the federated evaluation; none by default. */
  readonly central?: CentralEvaluation;
  readonly events: FederationEvents;
  readonly clock: Clock;
  readonly newTaskId: () => string;
  readonly log: (line: string) => void;
}

/**
 * Drives the plan: phase by phase, round by round. A round samples the connected sites
 * reproducibly, posts their tasks, waits until they settle, and commits the next model version
 * durably (or fails and is tried again); evaluations follow as the plan asks. After a restart
 * it resumes from the last committed round with the server optimiser's state restored. Failures
 * of single sites are recorded, never thrown: a round completes when enough updates arrived.
 */
export class RoundRunner {
  private readonly abort = new AbortController();
  private strategy: { phase: string; instance: Strategy } | undefined;
  /** Whether this coordinator has committed a round since it started. */
  private trained = false;
  /** The differential-privacy accountant and clip norm, when the plan has `privacy.dp`. */
  private dp: DpLedger | undefined;

  constructor(private readonly options: RoundRunnerOptions) {}

  /** Loads the last committed model (or creates version 0) and runs the remaining plan. */
  async run(): Promise<RunResult> {
    const { plan, store, board, global, events } = this.options;
    this.restore();
    const stopSweeping = this.options.sessions.startSweeping();
    const total = totalRounds(plan);
    await events.publish("federation.started", {
      data: {
        totalRounds: total,
        resumedAfterRound: store.lastCompletedRound(),
        modelVersion: global.version,
      },
    });
    try {
      await this.catchUpEvaluations();
      for (let round = store.lastCompletedRound() + 1; round <= total; round++) {
        const stopReason = await this.trainRound(round);
        if (stopReason !== undefined) return await this.endEarly(stopReason);
        await this.evaluateRound(round, global.version, {
          federated: this.plansEvaluation(round),
          central: this.options.central?.due(round) ?? false,
        });
      }
      if (total > 0 && evaluates(slotOf(plan, total).phase) && !this.evaluated(global.version))
        await this.evaluate(total, global.version);
      board.finish(PLAN_COMPLETE_REASON);
      await events.publish("federation.completed", { data: { modelVersion: global.version, rounds: total } });
      return { status: "completed", reason: PLAN_COMPLETE_REASON };
    } catch (error) {
      if (this.abort.signal.aborted) {
        board.finish("the coordinator is shutting down");
        return { status: "failed", reason: "stopped" };
      }
      const reason = errorMessage(error);
      board.finish(`the federation failed: ${reason}`);
      this.options.log(`federation failed: ${reason}`);
      return { status: "failed", reason };
    } finally {
      stopSweeping();
    }
  }

  /** Stops waiting; the current round is left uncommitted and will run again after a restart. */
  stop(): void {
    this.abort.abort();
  }

  /**
   * Ends the federation before its plan's last round (the privacy budget): a completed run with
   * the reason recorded, its last committed model evaluated as the final one.
   */
  private async endEarly(reason: string): Promise<RunResult> {
    const { plan, store, board, global, events, log } = this.options;
    const last = store.lastCompletedRound();
    if (last > 0 && evaluates(slotOf(plan, last).phase) && !this.evaluated(global.version))
      await this.evaluate(last, global.version);
    store.setMeta(COMPLETED_EARLY_META, reason);
    log(`federation ends after round ${last}: ${reason}`);
    board.finish(reason);
    await events.publish("federation.completed", {
      data: {
        modelVersion: global.version,
        rounds: last,
        reason,
        ...(this.dp && { privacy: { epsilon: this.dp.state.epsilon, delta: this.dp.settings.delta } }),
      },
    });
    return { status: "completed", reason };
  }

  private restore(): void {
    const { global, store, plan, model, log } = this.options;
    this.dp = openDpLedger(plan, store.latestPrivacyLedger()?.state);
    if (this.dp && this.dp.state.rounds > 0)
      log(
        `privacy: resuming the accountant at ε ${this.dp.state.epsilon.toFixed(3)} after ${this.dp.state.rounds} rounds`,
      );
    if (global.resume()) {
      log(`resuming at model v${global.version} after round ${store.lastCompletedRound()}`);
      return;
    }
    const first = plan.phases[0];
    const weights = this.options.initialWeights(first ? networkFor(model, first.task) : model);
    global.initialise(weights, this.options.clock.now());
    log(
      `initialised model v0 (${weights.manifest.tensors.length} tensors, ${weights.values.length} parameters)`,
    );
  }

  /** Trains one round; returns why the federation must end instead (the privacy budget), if so. */
  private async trainRound(round: number): Promise<string | undefined> {
    const { plan, store, global, clock, log } = this.options;
    const slot = slotOf(plan, round);
    const { phase } = slot;
    if (slot.roundInPhase === 1) this.enterPhase(phase);
    const pipeline = this.options.buildPipeline(phase.pipeline);
    const task = trainTaskSpec(plan, this.options.model, slot);
    for (;;) {
      const attempt = store.nextAttempt(round);
      const sites = await this.options.sessions.waitForSites(this.quorum(), this.abort.signal);
      const sampled = sampleSites(sites, {
        fraction: plan.fraction,
        minSites: plan.minSites,
        seed: plan.seed,
        round,
        attempt,
      });
      // The budget is checked before any task goes out: a round that would pass it never runs.
      const dp = sampled.length > 0 ? this.dp?.prepare(sampled.length, sites.length) : undefined;
      if (dp?.overBudget)
        return `the privacy budget ε ${this.dp?.settings.budget} would be exceeded by round ${round} (ε ${dp.epsilonBefore.toFixed(3)} → ${dp.epsilonAfter.toFixed(3)} at δ ${this.dp?.settings.delta})`;
      const roundPipeline = dp ? this.options.buildPipeline([...phase.pipeline, ...dp.stages]) : pipeline;
      // The phase decides which tensors leave the hospitals this round (MoCo key encoder, FedBN
      // statistics and site heads stay local); only those are expected and aggregated.
      const sharedGlobal = selectTensors(withSharing(global.weights, sharingRule(phase.local)), "shared");
      const aggregation = this.strategyFor(phase.name, round).beginRound(sharedGlobal);
      const secagg = openSecAggRound(this.options, {
        round,
        attempt,
        sampled,
        sharedLength: sharedGlobal.values.length,
        coordinatorStages: roundPipeline.coordinator,
      });
      this.options.uploads.open({
        round,
        attempt,
        phase: phase.name,
        aggregation,
        sharedManifest: sharedGlobal.manifest,
        stages: roundPipeline.coordinator,
        ...(secagg && { secagg }),
      });
      this.post(
        round,
        phase,
        sampled,
        withSecAgg(roundTrainTask(task, sampled.length, dp), secagg !== undefined),
        plan.roundTimeoutSec * 1000,
      );
      store.startRound({
        round,
        attempt,
        phase: phase.name,
        modelVersionIn: global.version,
        sampled,
        startedAtMs: clock.now(),
      });
      await this.options.events.publish("round.started", {
        round,
        data: { attempt, phase: phase.name, sampled, modelVersion: global.version },
      });
      log(
        `round ${round} (${phase.name}, attempt ${attempt}): ${sampled.length} sites sampled: ${sampled.join(", ")}`,
      );
      let trainMetrics: Record<string, number>;
      let failures: readonly TaskFailure[];
      let secured: SecAggOutcome | undefined;
      try {
        ({ failures } = await this.options.board.settle(this.abort.signal));
      } finally {
        trainMetrics = this.options.uploads.close();
        // Also on a stop: the round's protocol state (keys, the partial sum, its timers) goes.
        secured = secagg && this.options.secagg?.close();
      }
      const accepted = secured ? (secured.kind === "sum" ? secured.count : 0) : aggregation.acceptedCount;
      if (accepted >= plan.minSites) {
        await this.commit({
          round,
          attempt,
          phase,
          aggregation,
          pipeline: roundPipeline,
          sharedGlobal,
          trainMetrics,
          failures,
          dp,
          ...(secured?.kind === "sum" && { secured }),
        });
        this.trained = true;
        return undefined;
      }
      store.failRound({ round, attempt, acceptedCount: accepted, failures, endedAtMs: clock.now() });
      const reason =
        secured?.kind === "aborted"
          ? secured.reason
          : `only ${accepted} of the required ${plan.minSites} updates arrived${whyMissing(failures)}`;
      log(`round ${round} attempt ${attempt} failed: ${reason}`);
      await this.options.events.publish("round.failed", { round, data: { attempt, reason, failures } });
      if (attempt >= plan.maxRoundAttempts) {
        throw new FlError(ErrorCode.NotEnoughClients, `round ${round} failed ${attempt} times: ${reason}`);
      }
    }
  }

  /**
   * The round's aggregate passes the phase's aggregate stages before the server step; the new
   * version's checkpoint, the round and the optimiser's state are then committed together.
   */
  private async commit(r: {
    round: number;
    attempt: number;
    phase: Phase;
    aggregation: RoundAggregation;
    pipeline: UpdatePipeline;
    sharedGlobal: ModelWeights;
    trainMetrics: Record<string, number>;
    failures: readonly TaskFailure[];
    dp: RoundDp | undefined;
    /** Secure aggregation's unmasked mean, which stands in for the strategy's own aggregate. */
    secured?: Extract<SecAggOutcome, { kind: "sum" }>;
  }): Promise<void> {
    const { store, global, clock } = this.options;
    const { round, attempt, phase, aggregation, failures, secured } = r;
    const aggregationStartMs = clock.now();
    const aggregate = runAggregateStages(
      r.pipeline.aggregate,
      secured
        ? {
            meanDelta: secured.meanDelta,
            count: secured.count,
            totalExamples: secured.totalExamples,
            manifest: r.sharedGlobal.manifest,
            metrics: { "secagg.survivors": secured.count, "secagg.dropped": secured.dropped.length },
          }
        : { ...aggregation.aggregate(), manifest: r.sharedGlobal.manifest, metrics: {} },
      { round, phase: phase.name },
    );
    const { weights: newShared, metrics } = aggregation.step(aggregate);
    const accepted = secured?.count ?? aggregation.acceptedCount;
    const version = global.version + 1;
    const next = global.prepare(version, round, mergeTensors(global.weights, newShared), clock.now());
    const privacy =
      r.dp && this.dp?.settle(r.dp, { accepted, unclippedFraction: r.trainMetrics[UNCLIPPED_METRIC] });
    const roundMetrics = {
      ...prefixKeys("train.", r.dp ? publishedTrainMetrics(r.trainMetrics) : r.trainMetrics),
      ...metrics,
      ...aggregate.metrics,
      ...privacy?.metrics,
      accepted,
    };
    const strategy = this.strategy?.instance;
    store.completeRound({
      round,
      attempt,
      acceptedCount: accepted,
      failures,
      metrics: roundMetrics,
      checkpoint: next.record,
      endedAtMs: clock.now(),
      ...(strategy &&
        hasServerState(strategy) && { strategyState: { phase: phase.name, state: strategy.exportState() } }),
      ...(privacy && { privacy: { round, state: privacy.state } }),
    });
    next.adopt();
    if (privacy) this.dp?.adopt(privacy.state);
    this.options.log(`round ${round} completed: ${accepted} updates, model v${version}`);
    await this.options.events.publish("round.completed", {
      round,
      data: {
        attempt,
        modelVersion: version,
        accepted,
        failures,
        metrics: roundMetrics,
        // Aggregate, server step, checkpoint and commit: the coordinator's own share of the round.
        aggregationMs: clock.now() - aggregationStartMs,
      },
    });
  }

  /** The connected sites a round waits for. */
  private quorum(): number {
    const { plan } = this.options;
    return Math.max(plan.minSites, plan.minAvailableSites ?? 0);
  }

  private plansEvaluation(round: number): boolean {
    const { plan } = this.options;
    return shouldEvaluate(plan, round) && evaluates(slotOf(plan, round).phase);
  }

  /**
   * A committed version whose evaluation the plan asked for but is missing (the coordinator died
   * between the commit and the evaluation) or incomplete (it died with reports still out, or a
   * site failed its task) is evaluated now, before the plan goes on.
   */
  private async catchUpEvaluations(): Promise<void> {
    const { central, log } = this.options;
    for (const r of this.options.store.listRounds()) {
      if (r.status !== "completed" || r.modelVersionOut === null) continue;
      const version = r.modelVersionOut;
      const federated = this.plansEvaluation(r.round) && !this.evaluated(version);
      const centrally = (central?.due(r.round) ?? false) && !central?.evaluated(version);
      if (centrally) log(`model v${version} has no central evaluation yet: scoring it now`);
      if (federated || centrally)
        await this.evaluateRound(r.round, version, { federated, central: centrally });
    }
  }

  /**
   * The federated evaluation of a version and the central one side by side: the central set is
   * scored in its own process while the sites score theirs, and the plan goes on once both are
   * done. The central one never throws; a stop ends its wait (see CentralEvaluation.run).
   */
  private async evaluateRound(
    round: number,
    version: number,
    which: { federated: boolean; central: boolean },
  ): Promise<void> {
    const { central, global } = this.options;
    const scoring =
      which.central && central
        ? central.run(round, version, () => global.weightsOf(version), this.abort.signal)
        : undefined;
    try {
      if (which.federated) await this.evaluate(round, version);
    } finally {
      await scoring;
    }
  }

  /** The sites' reports on a version: the coordinator's own ("@central") is not one of them. */
  private siteReports(version: number): Set<string> {
    return new Set(this.options.store.evaluatedSites(version).filter((siteId) => siteId !== CENTRAL_SITE_ID));
  }

  /**
   * Complete: every site the evaluation was sent to has reported. A failed or missing site leaves
   * it incomplete, to be asked again at the plan's end (the final version) or after a restart.
   * A version with reports but no run on record was evaluated before runs were recorded, and
   * counts as complete.
   */
  private evaluated(version: number): boolean {
    const { store } = this.options;
    const run = store.evaluationRun(version);
    const reported = this.siteReports(version);
    return run ? run.expected.every((siteId) => reported.has(siteId)) : reported.size > 0;
  }

  /**
   * Evaluates `version` on the connected sites. Reports already received for it (from a run cut
   * short by a crash) are kept, because the same model on the same test split scores the same;
   * only the sites without one are asked, and an earlier expected site that is not connected
   * now is recorded as failed, so the run settles with every expected site accounted for.
   */
  private async evaluate(round: number, version: number): Promise<void> {
    const { plan, store, clock, log } = this.options;
    // After a restart the sites come back one by one: wait for as many as a round needs, or the
    // evaluation would go to whichever came back first. Right after a round they are all here.
    const connected = await this.options.sessions.waitForSites(
      this.trained ? 1 : this.quorum(),
      this.abort.signal,
    );
    const { phase } = slotOf(plan, round);
    const earlier = store.evaluationRun(version);
    const kept = this.siteReports(version);
    const asked = connected.filter((siteId) => !kept.has(siteId));
    // Nobody to ask and the outcome already announced: a second announcement would say nothing new.
    if (asked.length === 0 && earlier && earlier.settledAtMs !== null) return;
    const absent = (earlier?.expected ?? []).filter(
      (siteId) => !kept.has(siteId) && !connected.includes(siteId),
    );
    const expected = [...new Set([...kept, ...asked, ...absent])].sort();
    store.startEvaluation({ modelVersion: version, round, expected, startedAtMs: clock.now() });
    if (kept.size > 0)
      log(
        `evaluation of model v${version} resumes: ${kept.size} of ${expected.length} reports kept, asking ${asked.join(", ") || "no one"}`,
      );
    let settled: SettledRound = { done: 0, failures: [] };
    if (asked.length > 0) {
      const task = evaluateTaskSpec(this.options.model, phase, plan, round);
      this.post(round, phase, asked, task, plan.evaluationTimeoutSec * 1000, version);
      settled = await this.options.board.settle(this.abort.signal);
    }
    const failures = [
      ...absent.map((siteId) => ({ siteId, reason: "not connected when the evaluation resumed" })),
      ...settled.failures,
    ];
    await this.options.evaluations.summarise(round, version, { done: kept.size + settled.done, failures });
    // After the announcement: a crash in between announces it again rather than never.
    store.settleEvaluation({ modelVersion: version, failures, settledAtMs: clock.now() });
  }

  private post(
    round: number,
    phase: Phase,
    sites: readonly string[],
    spec: TaskSpec,
    timeoutMs: number,
    version = this.options.global.version,
  ): void {
    const { global, clock, newTaskId } = this.options;
    const model = global.describe(version);
    const deadlineMs = clock.now() + timeoutMs;
    const tasks = new Map<string, FlTask>();
    for (const siteId of sites) {
      tasks.set(siteId, {
        taskId: newTaskId(),
        round,
        phase: phase.name,
        modelVersion: model.version,
        modelSha256: model.sha256,
        modelBytes: model.byteLength,
        deadlineMs,
        ...spec,
      });
    }
    this.options.board.post({ round, kind: spec.kind, deadlineMs, tasks });
  }

  /**
   * Moves the global model into a phase's network once, when the phase starts: the phase's seeded
   * initial weights, with every tensor of the same name and shape carried over from the current
   * model except those the phase re-initialises (new heads). A change is committed as a new model
   * version before any task goes out, so a restart neither repeats nor loses it.
   */
  private enterPhase(phase: Phase): void {
    const { store, global } = this.options;
    const marker = `phase.entered.${phase.name}`;
    if (store.getMeta(marker) !== undefined) return;
    const fresh = this.options.initialWeights(networkFor(this.options.model, phase.task));
    const reinitialised = new Set(matchingTensors(fresh, phase.reinitialize));
    const { weights, copied } = carryOverWeights(global.weights, fresh, (name) => !reinitialised.has(name));
    const total = fresh.manifest.tensors.length;
    if (copied.length === total && total === global.weights.manifest.tensors.length) {
      store.setMeta(marker, String(global.version));
      return;
    }
    const version = global.version + 1;
    const entered = global.prepare(version, store.lastCompletedRound(), weights, this.options.clock.now());
    store.recordPhaseEntry(entered.record, marker);
    entered.adopt();
    this.options.log(
      `phase "${phase.name}" (${phase.task}): model v${version} carries ${copied.length} of ${total} tensors over, the rest start fresh`,
    );
  }

  /**
   * The phase's strategy. Server optimisers carry state across rounds (momentum, moments); it is
   * committed with each checkpoint and restored on resume when the checkpoint is of this phase.
   */
  private strategyFor(phase: string, round: number): Strategy {
    if (this.strategy?.phase === phase) return this.strategy.instance;
    const { store, log } = this.options;
    const instance = this.options.createStrategy();
    const latest = store.latestCheckpoint();
    if (hasServerState(instance) && latest && latest.round > 0 && latest.round < round) {
      const saved = store.strategyState(latest.version);
      if (saved && saved.phase === phase) {
        instance.importState(saved.state);
        log(`restored ${instance.name} state (${instance.steps} steps) from model v${latest.version}`);
      }
    }
    this.strategy = { phase, instance };
    return instance;
  }
}

function prefixKeys(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));
}

/**
 * The first failure of each site, so that the console and the log say why a round failed without
 * anyone opening a site's log (a shape mismatch, a data error, a lost connection).
 */
function whyMissing(failures: readonly TaskFailure[]): string {
  const first = new Map<string, string>();
  for (const { siteId, reason } of failures) if (!first.has(siteId)) first.set(siteId, reason);
  if (first.size === 0) return "";
  return `: ${[...first].map(([siteId, reason]) => `${siteId}: ${reason}`).join("; ")}`;
}
