import { CLASS_KEYS, CLASS_NAMES } from "../../shared/src/fl/classes.js";
import type {
  EvaluationStatistics,
  Interval,
  StatisticsSummary,
} from "../../shared/src/metrics/evaluation-statistics.js";
import {
  type ClassificationReport,
  classificationReport,
  type SegmentationSummary,
  sumConfusions,
  summarizeSegmentation,
  weightedAverage,
} from "../../shared/src/metrics/index.js";
import { poolStatistics } from "../../shared/src/metrics/pool-statistics.js";
import { StatisticsFold } from "../../shared/src/metrics/statistics-fold.js";
import { summariseStatistics } from "../../shared/src/metrics/summarise-statistics.js";
import type { EvaluationRecord, RoundRecord, SiteRecord } from "./store/records.js";

/** Site ids of the coordinator's own evaluations (e.g. "@central"): never a hospital's. */
export const CENTRAL_SITE_PREFIX = "@";

export interface EvaluationSummary {
  readonly round: number;
  readonly modelVersion: number;
  /** The hospitals' summed confusion matrices (count 0 when only the coordinator evaluated it). */
  readonly pooled: ClassificationReport;
  readonly perSite: Readonly<Record<string, ClassificationReport>>;
  /**
   * The pooled ranking metrics as a flat record: macroAuc, mAP, auc.<classKey>, ap.<classKey>
   * (classes with an undefined value left out). From the pooled statistics when every site sent
   * them (`rankingSource` "pooled"); from reports without statistics (older clients or rows) the
   * sites' own values averaged, weighted by test images ("site-weighted"), which is not a pooled
   * AUC. Absent for models that report none.
   */
  readonly ranking?: Readonly<Record<string, number>>;
  readonly rankingSource?: "pooled" | "site-weighted";
  /** AUC, AP, calibration, curves and intervals of the sites' statistics pooled (all sites sent them). */
  readonly statistics?: StatisticsSummary;
  /** The same per site, for the sites that sent statistics. */
  readonly siteStatistics?: Readonly<Record<string, StatisticsSummary>>;
  /** Mask overlap pooled exactly from the sites' summed counts (multi-task models only). */
  readonly segmentation?: SegmentationSummary;
  /** Each site's own reported metrics (loss, AUC, AP, Dice counts). */
  readonly siteMetrics: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** The coordinator's own evaluation of the version on its held test set, kept apart from the sites'. */
  readonly central?: {
    readonly siteId: string;
    readonly round: number;
    readonly report: ClassificationReport;
    readonly statistics?: StatisticsSummary;
  };
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

/**
 * Pooled metrics come from the summed confusion matrices and the summed statistics, not from
 * averaging per-site scores; the coordinator's own evaluations ("@…") are summarised apart.
 */
export function summariseEvaluations(
  records: readonly EvaluationRecord[],
  options: SummariseOptions = {},
): EvaluationSummary[] {
  const byVersion = new Map<number, EvaluationRecord[]>();
  for (const r of records) {
    const list = byVersion.get(r.modelVersion);
    if (list === undefined) byVersion.set(r.modelVersion, [r]);
    else list.push(r);
  }
  return [...byVersion.entries()]
    .sort(([a], [b]) => a - b)
    .map(([modelVersion, all]) => summariseVersion(modelVersion, () => all, options));
}

export interface SummariseOptions {
  /**
   * Summarise each site's statistics too (`siteStatistics`; default true). A caller that needs the
   * pooled figures only skips it: per site it is curves and bootstrap intervals, which for hundreds
   * of sites is most of the time and memory of a summary.
   */
  readonly siteStatistics?: boolean;
}

/**
 * The reports on one model version, readable more than once (e.g. rows streamed from the store).
 * They are read once, each site's statistics folded into the pool as it comes and then let go;
 * a second read happens only when sites sent histograms of different resolutions.
 */
export type VersionRecords = () => Iterable<EvaluationRecord>;

/** A site's report without its statistics: what a summary keeps of it after the fold. */
type SiteReport = Omit<EvaluationRecord, "statistics">;

/** summariseEvaluations of one version's records, holding one site's statistics at a time. */
export function summariseVersion(
  modelVersion: number,
  records: VersionRecords,
  options: SummariseOptions = {},
): EvaluationSummary {
  const list: SiteReport[] = [];
  const fold = new StatisticsFold();
  const siteStatistics: Array<[string, StatisticsSummary]> = [];
  let central: EvaluationRecord | undefined;
  let centralRound = Number.NEGATIVE_INFINITY;
  let withStatistics = 0;
  for (const record of records()) {
    if (record.siteId.startsWith(CENTRAL_SITE_PREFIX)) {
      central ??= record;
      centralRound = Math.max(centralRound, record.round);
      continue;
    }
    const { statistics, ...report } = record;
    list.push(report);
    if (statistics === undefined) continue;
    withStatistics++;
    fold.add(statistics);
    if (options.siteStatistics ?? true) siteStatistics.push([record.siteId, summariseStatistics(statistics)]);
  }
  // A pool of some sites only would pass for the federation's: pooled only when every site sent them.
  const pooledStatistics =
    withStatistics > 0 && withStatistics === list.length ? poolAll(fold, records) : undefined;
  const emptyMatrix = CLASS_NAMES.map(() => CLASS_NAMES.map(() => 0));
  return {
    round: list.length > 0 ? Math.max(...list.map((r) => r.round)) : centralRound,
    modelVersion,
    pooled: classificationReport(
      list.length > 0 ? sumConfusions(list.map((r) => r.confusion)) : emptyMatrix,
      CLASS_NAMES,
    ),
    perSite: Object.fromEntries(list.map((r) => [r.siteId, classificationReport(r.confusion, CLASS_NAMES)])),
    ...pooledExtras(
      list,
      pooledStatistics,
      withStatistics > 0 && (options.siteStatistics ?? true) ? Object.fromEntries(siteStatistics) : undefined,
    ),
    siteMetrics: Object.fromEntries(list.map((r) => [r.siteId, r.metrics])),
    ...(central && {
      central: {
        siteId: central.siteId,
        round: central.round,
        report: classificationReport(central.confusion, CLASS_NAMES),
        ...(central.statistics && { statistics: summariseStatistics(central.statistics) }),
      },
    }),
  };
}

/** The fold's pool, or poolStatistics over a second read when the sites' resolutions differed. */
function poolAll(fold: StatisticsFold, records: VersionRecords): StatisticsSummary | undefined {
  const folded = fold.pooled();
  if (folded === undefined) return undefined;
  if (!folded.mixed) return summariseStatistics(folded.statistics);
  const all: EvaluationStatistics[] = [];
  for (const r of records())
    if (!r.siteId.startsWith(CENTRAL_SITE_PREFIX) && r.statistics) all.push(r.statistics);
  return summariseStatistics(poolStatistics(all));
}

const RANKING_KEY = /^(auc\.|ap\.|macroAuc$|mAP$)/;

function pooledExtras(
  list: readonly SiteReport[],
  statistics: StatisticsSummary | undefined,
  siteStatistics: Record<string, StatisticsSummary> | undefined,
): Pick<EvaluationSummary, "ranking" | "rankingSource" | "statistics" | "siteStatistics" | "segmentation"> {
  const ranking = statistics ? rankingOf(statistics) : siteWeightedRanking(list);
  const withMasks = list.filter((r) => r.metrics["seg.images"] !== undefined);
  const sum = (key: string) => withMasks.reduce((total, r) => total + (r.metrics[key] ?? 0), 0);
  return {
    ...(Object.keys(ranking).length > 0 && {
      ranking,
      rankingSource: statistics ? ("pooled" as const) : ("site-weighted" as const),
    }),
    ...(statistics && { statistics }),
    ...(siteStatistics && { siteStatistics }),
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

/** The pooled summary's ranking values under the keys sites use for their own. */
function rankingOf(summary: StatisticsSummary): Record<string, number> {
  const ranking: Record<string, number> = {};
  if (summary.macroAuc) ranking.macroAuc = summary.macroAuc.value;
  if (summary.mAP) ranking.mAP = summary.mAP.value;
  summary.auc.forEach((auc, c) => {
    if (auc) ranking[`auc.${CLASS_KEYS[c] ?? c}`] = auc.value;
  });
  summary.ap.forEach((ap, c) => {
    if (ap) ranking[`ap.${CLASS_KEYS[c] ?? c}`] = ap.value;
  });
  return ranking;
}

/** Reports without statistics: the sites' own ranking metrics, weighted by their test images. */
function siteWeightedRanking(list: readonly SiteReport[]): Record<string, number> {
  return weightedAverage(
    list
      .map((r) => ({
        weight: r.numExamples,
        metrics: Object.fromEntries(Object.entries(r.metrics).filter(([k]) => RANKING_KEY.test(k))),
      }))
      .filter((item) => item.weight > 0 && Object.keys(item.metrics).length > 0),
  );
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

/** Differential privacy's (ε, δ) after each round, when the run had it. */
function privacyLines(rounds: readonly RoundSummary[]): string[] {
  const charged = rounds.filter((r) => r.metrics["privacy.epsilon"] !== undefined);
  const last = charged.at(-1)?.metrics;
  if (!last) return [];
  const n = (value: number | undefined, digits: number) => (value === undefined ? "" : value.toFixed(digits));
  const budget = last["privacy.budget"];
  return [
    "## Differential privacy",
    "",
    `Site-level (ε, δ) after ${charged.length} rounds: ε = ${n(last["privacy.epsilon"], 3)} at δ = ${last["privacy.delta"]}` +
      `${budget === undefined ? "" : ` (budget ${budget})`}; RDP accountant of the subsampled Gaussian mechanism.`,
    "",
    "| round | ε after | ε this round | noise multiplier | clip norm | sampling rate |",
    "|---|---|---|---|---|---|",
    ...charged.map(
      (r) =>
        `| ${r.round} | ${n(r.metrics["privacy.epsilon"], 3)} | ${n(r.metrics["privacy.epsilonRound"], 3)} | ${n(r.metrics["privacy.noiseMultiplier"], 3)} | ${n(r.metrics["privacy.clipNorm"], 4)} | ${n(r.metrics["privacy.samplingRate"], 3)} |`,
    ),
    "",
  ];
}

/** A short human-readable report (Markdown) of a run. */
export function renderMarkdownReport(input: {
  federationId: string;
  rounds: readonly RoundSummary[];
  final: EvaluationSummary | undefined;
  sites: readonly SiteRecord[];
  /** When the plan completed; undefined while it runs or after it stopped early. */
  completedAt: string | undefined;
  /** Why it completed before the plan's last round (the privacy budget), when it did. */
  completedEarlyReason?: string | undefined;
}): string {
  const lines = [`# Federation ${input.federationId}`, ""];
  const lastRound = input.rounds.filter((r) => r.modelVersion !== null).at(-1)?.round ?? 0;
  lines.push(
    input.completedAt !== undefined
      ? `Completed at ${input.completedAt}.`
      : `**Not completed**: the plan stopped early (or is still running) after committed round ${lastRound}; there is no final model. Starting the coordinator again resumes it.`,
    "",
  );
  if (input.completedAt !== undefined && input.completedEarlyReason !== undefined)
    lines.push(`**Ended early** after round ${lastRound}: ${input.completedEarlyReason}.`, "");
  lines.push(...privacyLines(input.rounds));
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
    if (f.statistics || f.siteStatistics) lines.push(...statisticsLines(f));
    else if (f.ranking) {
      const auc = f.ranking.macroAuc;
      lines.push(
        "",
        `mAP (SIIM study-level, over the four classes): ${fmt(f.ranking.mAP)}; macro ROC-AUC: ${fmt(auc)} (site means weighted by test images: the sites sent no statistics to pool).`,
      );
    }
    if (f.central) {
      const c = f.central;
      const auc = c.statistics?.macroAuc ? `, macro ROC-AUC ${fmt(c.statistics.macroAuc.value)}` : "";
      lines.push(
        "",
        `Central evaluation (${c.siteId}, the coordinator's own test set, round ${c.round}): accuracy ${fmt(c.report.accuracy)}, macro-F1 ${fmt(c.report.macroF1)}${auc} over ${c.report.count} images.`,
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

/** Ranking and calibration per site and pooled, with bootstrap intervals where the sites sent replicates. */
function statisticsLines(f: EvaluationSummary): string[] {
  const lines = [
    "",
    "Ranking and calibration from the sites' score histograms (95 % bootstrap intervals in brackets):",
    "",
    "| | macro ROC-AUC | mAP | ECE | Brier | images |",
    "|---|---|---|---|---|---|",
  ];
  const row = (name: string, st: StatisticsSummary) => {
    const iv = st.intervals ?? {};
    lines.push(
      `| ${name} | ${withInterval(st.macroAuc?.value, iv.macroAuc)} | ${withInterval(st.mAP?.value, iv.mAP)} | ${withInterval(st.ece, iv.ece)} | ${withInterval(st.brier, iv.brier)} | ${st.count} |`,
    );
  };
  for (const [site, st] of Object.entries(f.siteStatistics ?? {})) row(site, st);
  const st = f.statistics;
  if (!st) {
    lines.push("", "Not pooled: some sites sent no statistics.");
    return lines;
  }
  row("**pooled**", st);
  const iv = st.intervals ?? {};
  lines.push("");
  if (iv.accuracy || iv.macroF1)
    lines.push(
      `Pooled accuracy ${withInterval(iv.accuracy?.estimate, iv.accuracy)}, macro-F1 ${withInterval(iv.macroF1?.estimate, iv.macroF1)} (${iv.accuracy?.replicates ?? iv.macroF1?.replicates} replicates, stratified by site and class).`,
    );
  else lines.push("n = 1: the sites sent no bootstrap replicates, so there are no intervals.");
  const bound = (value: { errorBound: number } | null) =>
    value ? `±${value.errorBound.toPrecision(2)}` : "n/a";
  lines.push(
    `Binned at ${st.resolution}: AUC within ${bound(st.macroAuc)}, AP within ${bound(st.mAP)} of the exact values on the same images; adaptive ECE ${fmt(st.adaptiveEce.value)} (within ±${st.adaptiveEce.errorBound.toPrecision(2)}), MCE ${fmt(st.mce)}, NLL ${fmt(st.nll)}.`,
  );
  if (st.temperature) {
    const { fitted, before, after } = st.temperature;
    lines.push(
      `Temperature scaling (T = ${fitted.toFixed(3)}, fitted on the sites' validation NLL): ECE ${fmt(before.ece)} → ${fmt(after.ece)}, Brier ${fmt(before.brier)} → ${fmt(after.brier)}, NLL ${fmt(before.nll)} → ${fmt(after.nll)}.`,
    );
  }
  return lines;
}

/** "0.812 [0.790, 0.835]", or the value alone without an interval. */
function withInterval(value: number | undefined, interval: Interval | undefined): string {
  if (!interval) return fmt(value);
  return `${fmt(value)} [${fmt(interval.low)}, ${fmt(interval.high)}]`;
}

function fmt(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(3);
}
