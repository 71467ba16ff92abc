import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { checkEvaluationReport, checkReportStatistics } from "../../../shared/src/fl/limits.js";
import type { EvaluationReport } from "../../../shared/src/fl/messages.js";
import { summariseVersion } from "../report.js";
import type { EvaluationRecord } from "../store/records.js";
import type { Clock } from "./clock.js";
import type { FederationEvents } from "./events.js";
import type { FederationStore } from "./store.js";
import type { SettledRound, TaskBoard } from "./task-board.js";

export interface EvaluationIntakeOptions {
  /** Every confusion matrix is numClasses × numClasses. */
  readonly numClasses: number;
  /**
   * With iterateEvaluations (the SQLite store has it) a version's reports are pooled one row at a
   * time; without it, from listEvaluations' array.
   */
  readonly store: Pick<FederationStore, "recordEvaluation" | "listEvaluations"> & {
    iterateEvaluations?(modelVersion: number): Iterable<EvaluationRecord>;
  };
  readonly board: TaskBoard;
  readonly events: FederationEvents;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/**
 * Takes the sites' evaluations of a model version (a confusion matrix, scalar metrics and score
 * histograms each, never per-image scores) and pools them: accuracy and F1 from the summed
 * matrices, AUC, mAP and calibration from the summed histograms (see report.ts).
 */
export class EvaluationIntake {
  constructor(private readonly options: EvaluationIntakeOptions) {}

  report(siteId: string, report: EvaluationReport): void {
    checkEvaluationReport(report);
    const posted = this.options.board.taskOf(siteId);
    if (posted?.task.kind !== "evaluate" || posted.task.taskId !== report.taskId)
      throw new FlError(ErrorCode.WrongRound, `no open evaluation task ${report.taskId} for "${siteId}"`);
    if (posted.status === "done" || posted.status === "failed")
      throw new FlError(ErrorCode.Replay, `evaluation task ${report.taskId} is already closed`);
    const { round, modelVersion } = posted.task;
    if (report.modelVersion !== modelVersion) {
      throw new FlError(
        ErrorCode.WrongRound,
        `evaluation is of model v${report.modelVersion}; the task asked for v${modelVersion}`,
      );
    }
    checkConfusion(report, this.options.numClasses);
    checkReportStatistics(report, this.options.numClasses);
    this.options.store.recordEvaluation({
      round,
      modelVersion,
      siteId,
      split: report.split,
      numExamples: report.numExamples,
      confusion: report.confusion.map((row) => [...row]),
      metrics: { ...report.metrics },
      ...(report.statistics && { statistics: report.statistics }),
      receivedAtMs: this.options.clock.now(),
    });
    this.options.board.complete(siteId);
  }

  /** Pools the reports on a model version after its evaluation round and announces the result. */
  async summarise(round: number, modelVersion: number, settled: SettledRound): Promise<void> {
    const { log } = this.options;
    if (settled.done === 0) {
      log(`evaluation of model v${modelVersion} got no reports`);
      return;
    }
    const { store } = this.options;
    const iterate = store.iterateEvaluations?.bind(store);
    const records = iterate ? () => iterate(modelVersion) : () => store.listEvaluations(modelVersion);
    // The announcement carries pooled figures only: summarising 500 sites' statistics one by one
    // here would cost seconds and hundreds of MB per evaluation for nothing.
    const summary = summariseVersion(modelVersion, records, { siteStatistics: false });
    if (Object.keys(summary.perSite).length === 0 && !summary.central) return;
    const { pooled } = summary;
    const perSite = Object.fromEntries(
      Object.entries(summary.perSite).map(([site, r]) => [
        site,
        { macroF1: r.macroF1, accuracy: r.accuracy, count: r.count },
      ]),
    );
    const { ranking, statistics } = summary;
    const extras = {
      ...(ranking?.macroAuc !== undefined && { macroAuc: ranking.macroAuc }),
      ...(ranking?.mAP !== undefined && { mAP: ranking.mAP }),
      ...(statistics && { ece: statistics.ece, brier: statistics.brier }),
      ...(summary.segmentation && { dice: summary.segmentation.globalDice }),
    };
    log(
      `evaluation of model v${modelVersion}: pooled accuracy ${pooled.accuracy.toFixed(3)}, macro-F1 ${pooled.macroF1.toFixed(3)} over ${pooled.count} images${Object.entries(
        extras,
      )
        .map(([k, v]) => `, ${k} ${v.toFixed(3)}`)
        .join("")}`,
    );
    await this.options.events.publish("evaluation.completed", {
      round,
      data: {
        modelVersion,
        pooled: { accuracy: pooled.accuracy, macroF1: pooled.macroF1, count: pooled.count, ...extras },
        perSite,
        failures: settled.failures,
      },
    });
  }
}

/** A confusion matrix of counts: numClasses rows of numClasses cells, summing to numExamples. */
function checkConfusion(report: EvaluationReport, numClasses: number): void {
  const { confusion, numExamples } = report;
  const cells = confusion.flat();
  const total = cells.reduce((a, b) => a + b, 0);
  if (
    confusion.length !== numClasses ||
    confusion.some((row) => row.length !== numClasses) ||
    !cells.every((c) => Number.isSafeInteger(c) && c >= 0) ||
    total !== numExamples
  ) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `confusion matrix must be ${numClasses}x${numClasses} counts summing to num_examples (${numExamples}); got ${confusion.length} rows of ${confusion.map((row) => row.length).join("/")} cells summing to ${total}`,
    );
  }
}
