import { ErrorCode, errorMessage, FlError } from "../../../shared/src/errors.js";
import type { ModelSpec } from "../../../shared/src/fl/model-spec.js";
import { runAggregateStages, type UpdatePipeline } from "../../../shared/src/fl/pipeline.js";
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
import { type Phase, type Plan, shouldEvaluate, slotOf, totalRounds } from "../plan.js";
import { sampleSites } from "../sampling.js";
import { hasServerState } from "../strategy/server-optimizers.js";
import type { RoundAggregation, Strategy } from "../strategy/strategy.js";
import type { Clock } from "./clock.js";
import type { EvaluationIntake } from "./evaluation-intake.js";
import type { FederationEvents } from "./events.js";
import type { GlobalModel } from "./global-model.js";
import type { Sessions } from "./sessions.js";
import type { FederationStore } from "./store.js";
import type { TaskBoard, TaskFailure } from "./task-board.js";
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
  readonly evaluations: EvaluationIntake;
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
      for (let round = store.lastCompletedRound() + 1; round <= total; round++) {
        await this.trainRound(round);
        if (shouldEvaluate(plan, round) && evaluates(slotOf(plan, round).phase)) await this.evaluate(round);
      }
      if (
        total > 0 &&
        evaluates(slotOf(plan, total).phase) &&
        store.listEvaluations(global.version).length === 0
      )
        await this.evaluate(total);
      board.finish("the plan is complete");
      await events.publish("federation.completed", { data: { modelVersion: global.version, rounds: total } });
      return { status: "completed", reason: "the plan is complete" };
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

  private restore(): void {
    const { global, store, plan, model, log } = this.options;
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

  private async trainRound(round: number): Promise<void> {
    const { plan, store, global, clock, log } = this.options;
    const slot = slotOf(plan, round);
    const { phase } = slot;
    if (slot.roundInPhase === 1) this.enterPhase(phase);
    const pipeline = this.options.buildPipeline(phase.pipeline);
    const task = trainTaskSpec(plan, this.options.model, slot);
    for (;;) {
      const attempt = store.nextAttempt(round);
      const sites = await this.options.sessions.waitForSites(
        Math.max(plan.minSites, plan.minAvailableSites ?? 0),
        this.abort.signal,
      );
      const sampled = sampleSites(sites, {
        fraction: plan.fraction,
        minSites: plan.minSites,
        seed: plan.seed,
        round,
        attempt,
      });
      // The phase decides which tensors leave the hospitals this round (MoCo key encoder, FedBN
      // statistics and site heads stay local); only those are expected and aggregated.
      const sharedGlobal = selectTensors(withSharing(global.weights, sharingRule(phase.local)), "shared");
      const aggregation = this.strategyFor(phase.name, round).beginRound(sharedGlobal);
      this.options.uploads.open({
        round,
        attempt,
        phase: phase.name,
        aggregation,
        sharedManifest: sharedGlobal.manifest,
        stages: pipeline.coordinator,
      });
      this.post(round, phase, sampled, task, plan.roundTimeoutSec * 1000);
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
      try {
        ({ failures } = await this.options.board.settle(this.abort.signal));
      } finally {
        trainMetrics = this.options.uploads.close();
      }
      const accepted = aggregation.acceptedCount;
      if (accepted >= plan.minSites) {
        await this.commit({
          round,
          attempt,
          phase,
          aggregation,
          pipeline,
          sharedGlobal,
          trainMetrics,
          failures,
        });
        return;
      }
      store.failRound({ round, attempt, acceptedCount: accepted, failures, endedAtMs: clock.now() });
      const reason = `only ${accepted} of the required ${plan.minSites} updates arrived`;
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
  }): Promise<void> {
    const { store, global, clock } = this.options;
    const { round, attempt, phase, aggregation, failures } = r;
    const aggregate = runAggregateStages(
      r.pipeline.aggregate,
      { ...aggregation.aggregate(), manifest: r.sharedGlobal.manifest, metrics: {} },
      { round, phase: phase.name },
    );
    const { weights: newShared, metrics } = aggregation.step(aggregate);
    const accepted = aggregation.acceptedCount;
    const version = global.version + 1;
    const next = global.prepare(version, round, mergeTensors(global.weights, newShared), clock.now());
    const roundMetrics = {
      ...prefixKeys("train.", r.trainMetrics),
      ...metrics,
      ...aggregate.metrics,
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
    });
    next.adopt();
    this.options.log(`round ${round} completed: ${accepted} updates, model v${version}`);
    await this.options.events.publish("round.completed", {
      round,
      data: { attempt, modelVersion: version, accepted, failures, metrics: roundMetrics },
    });
  }

  private async evaluate(round: number): Promise<void> {
    const { plan, global } = this.options;
    const sites = await this.options.sessions.waitForSites(1, this.abort.signal);
    const { phase } = slotOf(plan, round);
    const task = evaluateTaskSpec(this.options.model, phase);
    const modelVersion = global.version;
    this.post(round, phase, sites, task, plan.evaluationTimeoutSec * 1000);
    const settled = await this.options.board.settle(this.abort.signal);
    await this.options.evaluations.summarise(round, modelVersion, settled);
  }

  private post(
    round: number,
    phase: Phase,
    sites: readonly string[],
    spec: TaskSpec,
    timeoutMs: number,
  ): void {
    const { global, clock, newTaskId } = this.options;
    const deadlineMs = clock.now() + timeoutMs;
    const tasks = new Map<string, FlTask>();
    for (const siteId of sites) {
      tasks.set(siteId, {
        taskId: newTaskId(),
        round,
        phase: phase.name,
        modelVersion: global.version,
        modelSha256: global.sha256,
        modelBytes: global.byteLength,
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
