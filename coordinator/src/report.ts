import { CLASS_NAMES } from "../../shared/src/fl/classes.js";
import {
  type ClassificationReport,
  classificationReport,
  type SegmentationSummary,
  sumConfusions,
  summarizeSegmentation,
  weightedAverage,
} from "../../shared/src/metrics/index.js";
import type { EvaluationRecord, RoundRecord, SiteRecord } from "./store/records.js";

export interface EvaluationSummary {
  readonly round: number;
  readonly modelVersion: number;
  readonly pooled: ClassificationReport;
  readonly perSite: Readonly<Record<string, ClassificationReport>>;
  /**
   * Ranking metrics (ROC-AUC, AP, mAP) averaged over sites weighted by test images: per-example
   * scores never leave a hospital, so a pooled ROC curve cannot be formed. Absent for models
   * that report none.
   */
  readonly ranking?: Readonly<Record<string, number>>;
  /** Mask overlap pooled exactly from the sites' summed counts (multi-task models only). */
  readonly segmentation?: SegmentationSummary;
  /** Each site's own reported metrics (loss, AUC, AP, Dice counts). */
  readonly siteMetrics: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface RoundSummary {
  readonly round: number;
  readonly phase: string;
  readonly attempts: number;
  readonly modelVersion: number | null;
  readonly accepted: number;
  readonly failures: ReadonlyArray<{ siteId: string; reason: string }>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly durationMs: number | null;
  readonly evaluation?: {
    readonly accuracy: number;
    readonly macroF1: number;
    readonly perSiteMacroF1: Readonly<Record<string, number>>;
  };
}

/** Pooled metrics come from the summed confusion matrices, not from averaging per-site scores. */
export function summariseEvaluations(records: readonly EvaluationRecord[]): EvaluationSummary[] {
  const byVersion = new Map<number, EvaluationRecord[]>();
  for (const r of records) byVersion.set(r.modelVersion, [...(byVersion.get(r.modelVersion) ?? []), r]);
  return [...byVersion.entries()]
    .sort(([a], [b]) => a - b)
    .map(([modelVersion, list]) => ({
      round: Math.max(...list.map((r) => r.round)),
      modelVersion,
      pooled: classificationReport(sumConfusions(list.map((r) => r.confusion)), CLASS_NAMES),
      perSite: Object.fromEntries(
        list.map((r) => [r.siteId, classificationReport(r.confusion, CLASS_NAMES)]),
      ),
      ...pooledExtras(list),
      siteMetrics: Object.fromEntries(list.map((r) => [r.siteId, r.metrics])),
    }));
}

const RANKING_KEY = /^(auc\.|ap\.|macroAuc$|mAP$)/;

function pooledExtras(
  list: readonly EvaluationRecord[],
): Pick<EvaluationSummary, "ranking" | "segmentation"> {
  const ranking = weightedAverage(
    list
      .map((r) => ({
        weight: r.numExamples,
        metrics: Object.fromEntries(Object.entries(r.metrics).filter(([k]) => RANKING_KEY.test(k))),
      }))
      .filter((item) => item.weight > 0 && Object.keys(item.metrics).length > 0),
  );
  const withMasks = list.filter((r) => r.metrics["seg.images"] !== undefined);
  const sum = (key: string) => withMasks.reduce((total, r) => total + (r.metrics[key] ?? 0), 0);
  return {
    ...(Object.keys(ranking).length > 0 && { ranking }),
    ...(withMasks.length > 0 && {
      segmentation: summarizeSegmentation({
        images: sum("seg.images"),
        diceSum: sum("seg.diceSum"),
        iouSum: sum("seg.iouSum"),
        intersection: sum("seg.intersection"),
        predicted: sum("seg.predicted"),
        actual: sum("seg.actual"),
      }),
    }),
  };
}

export function summariseRounds(
  rounds: readonly RoundRecord[],
  evaluations: readonly EvaluationSummary[],
): RoundSummary[] {
  const byRound = new Map<number, RoundRecord[]>();
  for (const r of rounds) byRound.set(r.round, [...(byRound.get(r.round) ?? []), r]);
  return [...byRound.entries()]
    .sort(([a], [b]) => a - b)
    .map(([round, attempts]) => {
      const done = attempts.find((a) => a.status === "completed");
      const last = done ?? (attempts[attempts.length - 1] as RoundRecord);
      const evaluation = done ? evaluations.find((e) => e.modelVersion === done.modelVersionOut) : undefined;
      return {
        round,
        phase: last.phase,
        attempts: attempts.length,
        modelVersion: done?.modelVersionOut ?? null,
        accepted: last.acceptedCount,
        failures: attempts.flatMap((a) => a.failures),
        metrics: last.metrics,
        durationMs: last.endedAtMs === null ? null : last.endedAtMs - last.startedAtMs,
        ...(evaluation && {
          evaluation: {
            accuracy: evaluation.pooled.accuracy,
            macroF1: evaluation.pooled.macroF1,
            perSiteMacroF1: Object.fromEntries(
              Object.entries(evaluation.perSite).map(([site, r]) => [site, r.macroF1]),
            ),
          },
        }),
      };
    });
}

/** A short human-readable report (Markdown) of a run. */
export function renderMarkdownReport(input: {
  federationId: string;
  rounds: readonly RoundSummary[];
  final: EvaluationSummary | undefined;
  sites: readonly SiteRecord[];
  /** When the plan completed; undefined while it runs or after it stopped early. */
  completedAt: string | undefined;
}): string {
  const lines = [`# Federation ${input.federationId}`, ""];
  const lastRound = input.rounds.filter((r) => r.modelVersion !== null).at(-1)?.round ?? 0;
  lines.push(
    input.completedAt !== undefined
      ? `Completed at ${input.completedAt}.`
      : `**Not completed**: the plan stopped early (or is still running) after committed round ${lastRound}; there is no final model. Starting the coordinator again resumes it.`,
    "",
  );
  lines.push("## Sites", "", "| site | backend | train images per class |", "|---|---|---|");
  for (const s of input.sites) {
    const info = s.info ?? {};
    lines.push(
      `| ${s.siteId} | ${String(info.backend ?? "?")} | ${Array.isArray(info.trainClassCounts) ? info.trainClassCounts.join(" / ") : "?"} |`,
    );
  }
  lines.push(
    "",
    "## Rounds",
    "",
    "| round | phase | accepted | failures | train loss | pooled macro-F1 |",
    "|---|---|---|---|---|---|",
  );
  for (const r of input.rounds) {
    const loss = r.metrics["train.loss"];
    lines.push(
      `| ${r.round} | ${r.phase} | ${r.accepted} | ${r.failures.length} | ${loss === undefined ? "" : loss.toFixed(4)} | ${r.evaluation ? r.evaluation.macroF1.toFixed(3) : ""} |`,
    );
  }
  if (input.final) {
    const f = input.final;
    lines.push(
      "",
      input.completedAt !== undefined
        ? `## Final evaluation (model v${f.modelVersion})`
        : `## Evaluation of the last committed model (v${f.modelVersion})`,
      "",
      `| | accuracy | macro-F1 | ${CLASS_NAMES.map((c) => `F1 ${c}`).join(" | ")} | images |`,
    );
    lines.push(`|---|---|---|${CLASS_NAMES.map(() => "---").join("|")}|---|`);
    const row = (name: string, r: ClassificationReport) =>
      `| ${name} | ${r.accuracy.toFixed(3)} | ${r.macroF1.toFixed(3)} | ${r.perClass.map((c) => c.f1.toFixed(3)).join(" | ")} | ${r.count} |`;
    for (const [site, r] of Object.entries(f.perSite)) lines.push(row(site, r));
    lines.push(row("**pooled**", f.pooled));
    if (f.ranking) {
      const auc = f.ranking.macroAuc;
      lines.push(
        "",
        `mAP (SIIM study-level, over the four classes): ${fmt(f.ranking.mAP)}; macro ROC-AUC: ${fmt(auc)} (site means weighted by test images).`,
      );
    }
    if (f.segmentation) {
      lines.push(
        `Opacity masks: Dice ${fmt(f.segmentation.globalDice)} (pooled pixels), mean per-image Dice ${fmt(f.segmentation.meanDice)}, IoU ${fmt(f.segmentation.globalIou)}.`,
      );
    }
    lines.push("", "Pooled confusion matrix (rows = true, columns = predicted):", "", "```");
    for (const [i, rowValues] of f.pooled.confusion.entries()) {
      lines.push(
        `${(CLASS_NAMES[i] ?? "").padEnd(26)} ${rowValues.map((v) => String(v).padStart(5)).join(" ")}`,
      );
    }
    lines.push("```");
  }
  return `${lines.join("\n")}\n`;
}

function fmt(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(3);
}
