import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import type { ModelSpec } from "../../shared/src/fl/model-spec.js";
import { buildEvaluateTask, type EvaluateTask } from "../../shared/src/fl/task.js";
import type { EvaluationStatistics } from "../../shared/src/metrics/evaluation-statistics.js";
import { assertConfusion, classificationReport } from "../../shared/src/metrics/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import type { Clock } from "./federation/clock.js";
import type { FederationStore } from "./federation/store.js";
import { evaluates, evaluateTaskSpec } from "./federation/task-specs.js";
import { type Plan, shouldEvaluate, slotOf, totalRounds } from "./plan.js";

/**
 * The site id of the coordinator's own test set in the evaluation records. Site ids are letters,
 * digits, '-' and '_', so no hospital can hold it, and summaries leave "@" ids out of the pooled
 * figures: the central set is a second opinion, not one more hospital.
 */
export const CENTRAL_SITE_ID = "@central";

/** What a central evaluation yields: what a hospital's evaluation yields. */
export interface CentralOutcome {
  /** [truth][predicted], summing to numExamples. */
  readonly confusion: number[][];
  readonly numExamples: number;
  readonly metrics: Record<string, number>;
  readonly statistics?: EvaluationStatistics;
}

/**
 * The port through which the coordinator scores a model on its own images. The coordinator never
 * loads TensorFlow or data itself (its layer rules forbid it); `fl coordinator` implements this
 * with a trainer child process, tests with fixed answers.
 */
export interface CentralEvaluator {
  evaluate(task: EvaluateTask, weights: ModelWeights): Promise<CentralOutcome>;
}

/** When and on which split the central set is scored. */
export interface CentralSchedule {
  /** Every this many rounds and at the plan's end; default: whenever the federated evaluation runs. */
  readonly every?: number;
  readonly split: "val" | "test";
}

/** Whether the model committed by `round` is due for a central evaluation. */
export function centralEvaluationDue(plan: Plan, round: number, every: number | undefined): boolean {
  // Self-supervised phases have no classification head to score.
  if (!evaluates(slotOf(plan, round).phase)) return false;
  if (every === undefined) return shouldEvaluate(plan, round);
  return round % every === 0 || round === totalRounds(plan);
}

/** The meta key under which a failed central evaluation of a version is kept. */
export function centralFailureKey(version: number): string {
  return `central-evaluation.failed.v${version}`;
}

export interface CentralFailure {
  readonly round: number;
  readonly reason: string;
  readonly atMs: number;
}

export interface CentralEvaluationOptions {
  readonly evaluator: CentralEvaluator;
  readonly schedule: CentralSchedule;
  readonly plan: Plan;
  readonly model: ModelSpec;
  readonly store: Pick<FederationStore, "recordEvaluation" | "evaluatedSites" | "getMeta" | "setMeta">;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/**
 * Scores committed model versions on the coordinator's test set and records the result as the
 * evaluation of site "@central". It never fails a round: a failure is logged and kept (meta key
 * `central-evaluation.failed.v<version>`), and a version due but without a record (a crash, a
 * failure) is scored again when a coordinator resumes.
 */
export class CentralEvaluation {
  constructor(private readonly options: CentralEvaluationOptions) {}

  due(round: number): boolean {
    return centralEvaluationDue(this.options.plan, round, this.options.schedule.every);
  }

  /** Whether `version` has a central record. */
  evaluated(version: number): boolean {
    return this.options.store.evaluatedSites(version).includes(CENTRAL_SITE_ID);
  }

  failure(version: number): CentralFailure | undefined {
    const raw = this.options.store.getMeta(centralFailureKey(version));
    return raw === undefined ? undefined : (JSON.parse(raw) as CentralFailure);
  }

  /**
   * Scores `version` (committed by `round`) and records it. Resolves once recorded or failed;
   * never rejects. After `signal` aborts it stops waiting and records nothing, so that a stopping
   * coordinator neither hangs on it nor writes into a closed store; the resume scores it again.
   */
  async run(round: number, version: number, weights: () => ModelWeights, signal: AbortSignal): Promise<void> {
    const { plan, model, store, clock, log } = this.options;
    const startedMs = clock.now();
    try {
      // The sites' task (the plan's bootstrap and temperature scan, the round's seed) on the set's split.
      const sites = evaluateTaskSpec(model, slotOf(plan, round).phase, plan, round).spec as EvaluateTask;
      const task = buildEvaluateTask({ ...sites, split: this.options.schedule.split });
      const outcome = await untilAborted(this.options.evaluator.evaluate(task, weights()), signal);
      if (outcome === ABORTED) return;
      checkOutcome(outcome, model.numClasses);
      store.recordEvaluation({
        round,
        modelVersion: version,
        siteId: CENTRAL_SITE_ID,
        split: task.split,
        numExamples: outcome.numExamples,
        confusion: outcome.confusion.map((row) => [...row]),
        metrics: { ...outcome.metrics },
        ...(outcome.statistics && { statistics: outcome.statistics }),
        receivedAtMs: clock.now(),
      });
      const report = classificationReport(outcome.confusion);
      log(
        `central evaluation of model v${version} (${task.split} split, ${outcome.numExamples} images): accuracy ${report.accuracy.toFixed(3)}, macro-F1 ${report.macroF1.toFixed(3)}${
          outcome.metrics.macroAuc !== undefined ? `, macroAuc ${outcome.metrics.macroAuc.toFixed(3)}` : ""
        } in ${((clock.now() - startedMs) / 1000).toFixed(1)} s`,
      );
    } catch (error) {
      if (signal.aborted) return;
      const reason = errorMessage(error);
      log(`central evaluation of model v${version} failed: ${reason}; the federation goes on without it`);
      try {
        const failure: CentralFailure = { round, reason, atMs: clock.now() };
        store.setMeta(centralFailureKey(version), JSON.stringify(failure));
      } catch (storeError) {
        log(`could not record the central evaluation's failure: ${errorMessage(storeError)}`);
      }
    }
  }
}

const ABORTED = Symbol("aborted");

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** The same shape a hospital's report must have: numClasses² counts summing to numExamples. */
function checkOutcome(outcome: CentralOutcome, numClasses: number): void {
  const size = assertConfusion(outcome.confusion, "of the central evaluation");
  const cells = outcome.confusion.flat();
  const total = cells.reduce((a, b) => a + b, 0);
  if (size !== numClasses || !cells.every(Number.isSafeInteger) || total !== outcome.numExamples)
    throw new FlError(
      ErrorCode.Internal,
      `the central evaluator returned a ${size}x${size} confusion matrix summing to ${total}; expected ${numClasses}x${numClasses} integer counts summing to ${outcome.numExamples}`,
    );
  if (total === 0)
    throw new FlError(
      ErrorCode.InvalidConfig,
      "the central set's split has no images: give centralEvaluation.data more images or larger splits",
    );
}
