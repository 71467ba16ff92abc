/**
 * Turns what was read from a run folder into the numbers the report states. Pure: the same
 * input gives the same report (the time it was made aside), and the renderers only format it.
 */
import { CLASS_KEYS, CLASS_NAMES } from "../../shared/src/fl/classes.js";
import type { BoundedValue, StatisticsSummary } from "../../shared/src/metrics/evaluation-statistics.js";
import type { ClassificationReport } from "../../shared/src/metrics/index.js";
import { readinessStatements } from "./readiness.js";
import type { CalibrationRow, Cell, EvaluationRow, ReportEvaluation, RunInput, RunReport } from "./types.js";

/** A value with its bootstrap interval from `intervals[key]`, or a note saying why it has none. */
export function cell(value: number, stats: StatisticsSummary | undefined, key: string): Cell {
  const interval = stats?.intervals?.[key];
  if (interval === undefined) return { value, note: "no interval" };
  if (interval.replicates <= 1) return { value, note: "n = 1" };
  return { value, interval: { low: interval.low, high: interval.high, replicates: interval.replicates } };
}

function bounded(
  b: BoundedValue | null | undefined,
  stats: StatisticsSummary | undefined,
  key: string,
): Cell | null {
  return b ? cell(b.value, stats, key) : null;
}

export function evaluationRow(
  name: string,
  report: ClassificationReport,
  stats: StatisticsSummary | undefined,
): EvaluationRow {
  return {
    name,
    images: report.count,
    accuracy: cell(report.accuracy, stats, "accuracy"),
    macroF1: cell(report.macroF1, stats, "macroF1"),
    f1: report.perClass.map((c, i) => cell(c.f1, stats, `f1.${CLASS_KEYS[i] ?? i}`)),
    macroAuc: bounded(stats?.macroAuc, stats, "macroAuc"),
    mAP: bounded(stats?.mAP, stats, "mAP"),
  };
}

function calibrationRow(name: string, s: StatisticsSummary): CalibrationRow {
  return {
    name,
    images: s.count,
    ece: s.ece,
    adaptiveEce: s.adaptiveEce.value,
    mce: s.mce,
    brier: s.brier,
    nll: s.nll,
    ...(s.temperature && { temperature: s.temperature }),
  };
}

/** A site's macro-AUC: from its statistics, or the AUC it computed itself and reported as a metric. */
function siteAuc(e: ReportEvaluation, site: string): number | undefined {
  return e.siteStatistics?.[site]?.macroAuc?.value ?? e.siteMetrics[site]?.macroAuc;
}

export function buildReport(input: RunInput, now: Date): RunReport {
  const completed = input.completedAt !== undefined;
  const committed = input.rounds.filter((r) => r.modelVersion !== null);
  const lastCommittedRound = committed.at(-1)?.round ?? 0;
  const phases = (input.config?.plan?.phases ?? []).map((p) => ({
    name: p.name,
    task: p.task ?? null,
    rounds: p.rounds,
  }));
  const plannedRounds = phases.length > 0 ? phases.reduce((n, p) => n + p.rounds, 0) : null;
  const reason = input.run?.reason;
  const status = completed
    ? input.completedEarlyReason !== undefined
      ? `Completed at ${input.completedAt}, ended early after round ${lastCommittedRound}${plannedRounds === null ? "" : ` of ${plannedRounds}`}: ${input.completedEarlyReason}.`
      : `Completed at ${input.completedAt}: all ${plannedRounds ?? lastCommittedRound} planned rounds ran.`
    : `STOPPED EARLY after committed round ${lastCommittedRound}${plannedRounds === null ? "" : ` of ${plannedRounds}`}${reason ? ` (${reason})` : ""}: there is no final model; the numbers below are of the last committed model.`;

  // Versions only the coordinator evaluated have no hospital in them: not the sites' evaluation.
  const bySites = input.evaluations.filter((e) => e.pooled.count > 0);
  const finalBySites = input.final && input.final.pooled.count > 0 ? input.final : undefined;
  const evaluated = finalBySites ?? bySites.at(-1);
  const final = evaluated ? finalSection(evaluated, completed && finalBySites !== undefined) : null;
  // The central test set is evaluated every few rounds: its latest evaluation, whichever version.
  const lastCentral = [...input.evaluations].reverse().find((e) => e.central !== undefined)?.central;
  const central = lastCentral
    ? {
        siteId: lastCentral.siteId,
        round: lastCentral.round,
        row: evaluationRow(lastCentral.siteId, lastCentral.report, lastCentral.statistics),
        confusion: lastCentral.report.confusion,
        statistics: lastCentral.statistics ?? null,
      }
    : null;

  const epsilon = input.rounds.flatMap((r) => {
    const e = r.metrics["privacy.epsilon"];
    return e === undefined ? [] : [{ round: r.round, epsilon: e }];
  });
  const plan = input.config?.plan;

  const pooledRow = final?.rows.at(-1);
  const report: Omit<RunReport, "readiness"> = {
    version: 1,
    generatedAt: now.toISOString(),
    classes: [...CLASS_NAMES],
    classKeys: [...CLASS_KEYS],
    overview: {
      federationId: input.federationId,
      completed,
      completedAt: input.completedAt ?? null,
      status,
      lastCommittedRound,
      plannedRounds,
      architecture: input.config?.model?.architecture ?? null,
      phases,
      strategy: plan?.strategy?.name ?? null,
      evaluateEvery: plan?.evaluateEvery ?? null,
      durationSec: input.run?.durationSec ?? null,
      sites: input.sites.map((s) => {
        const counts = s.info?.trainClassCounts;
        const backend = s.info?.backend ?? input.run?.backends?.[s.siteId]?.backend;
        return {
          site: s.siteId,
          backend: typeof backend === "string" ? backend : null,
          trainClassCounts:
            Array.isArray(counts) && counts.every((c) => typeof c === "number") ? counts : null,
        };
      }),
    },
    curves: {
      rounds: input.rounds.map((r) => ({
        round: r.round,
        phase: r.phase,
        accepted: r.accepted,
        failures: r.failures.length,
        trainLoss: r.metrics["train.loss"] ?? null,
        trainAccuracy: r.metrics["train.accuracy"] ?? null,
        durationMs: r.durationMs,
      })),
      siteTraining: input.siteTraining,
      evaluation: input.evaluations.flatMap((e) => {
        const at = { round: e.round, modelVersion: e.modelVersion };
        const points: RunReport["curves"]["evaluation"][number][] = [];
        if (e.pooled.count > 0) {
          points.push({ ...at, who: "pooled", metric: "accuracy", value: e.pooled.accuracy });
          points.push({ ...at, who: "pooled", metric: "macroF1", value: e.pooled.macroF1 });
          const pooledAuc = e.statistics?.macroAuc?.value ?? e.ranking?.macroAuc;
          if (pooledAuc !== undefined)
            points.push({ ...at, who: "pooled", metric: "macroAuc", value: pooledAuc });
        }
        if (e.central) {
          const c = e.central;
          points.push({ ...at, who: c.siteId, metric: "accuracy", value: c.report.accuracy });
          points.push({ ...at, who: c.siteId, metric: "macroF1", value: c.report.macroF1 });
          const auc = c.statistics?.macroAuc?.value;
          if (auc !== undefined) points.push({ ...at, who: c.siteId, metric: "macroAuc", value: auc });
        }
        for (const [site, r] of Object.entries(e.perSite)) {
          points.push({ ...at, who: site, metric: "accuracy", value: r.accuracy });
          points.push({ ...at, who: site, metric: "macroF1", value: r.macroF1 });
          const auc = siteAuc(e, site);
          if (auc !== undefined) points.push({ ...at, who: site, metric: "macroAuc", value: auc });
        }
        return points;
      }),
    },
    final,
    central,
    analysis: input.analysis ?? null,
    privacy: {
      traffic: input.traffic,
      differentialPrivacy:
        plan?.privacy === undefined
          ? "not enabled: model updates leave each site without added noise, so no ε is claimed"
          : `configured: ${JSON.stringify(plan.privacy)}`,
      secureAggregation:
        plan?.secureAggregation === undefined
          ? "not enabled: the coordinator decrypts and sees each site's update (encrypted in transit, signed by the site)"
          : `configured: ${JSON.stringify(plan.secureAggregation)}`,
      epsilon,
    },
  };
  const pooledStats = final?.pooledStatistics ?? null;
  const readiness = readinessStatements({
    completed,
    lastCommittedRound,
    plannedRounds,
    classF1: evaluated ? evaluated.pooled.perClass.map((c) => ({ name: c.name, f1: c.f1 })) : null,
    calibration: pooledStats
      ? { ece: pooledStats.ece, ...(pooledStats.temperature && { temperature: pooledStats.temperature }) }
      : null,
    macroF1: pooledRow
      ? {
          value: pooledRow.macroF1.value,
          ...(pooledRow.macroF1.interval && {
            low: pooledRow.macroF1.interval.low,
            high: pooledRow.macroF1.interval.high,
          }),
        }
      : null,
    siteMacroF1: evaluated
      ? Object.fromEntries(Object.entries(evaluated.perSite).map(([s, r]) => [s, r.macroF1]))
      : {},
    analysis: input.analysis ?? null,
  });
  return { ...report, readiness };
}

function finalSection(e: ReportEvaluation, isFinalModel: boolean): NonNullable<RunReport["final"]> {
  const siteStatistics = e.siteStatistics ?? {};
  const sites = Object.keys(e.perSite).sort();
  return {
    modelVersion: e.modelVersion,
    round: e.round,
    isFinalModel,
    rows: [
      ...sites.map((s) => evaluationRow(s, e.perSite[s] as ClassificationReport, siteStatistics[s])),
      evaluationRow("pooled", e.pooled, e.statistics),
    ],
    confusion: [
      { name: "pooled", matrix: e.pooled.confusion },
      ...sites.map((s) => ({ name: s, matrix: (e.perSite[s] as ClassificationReport).confusion })),
    ],
    pooledStatistics: e.statistics ?? null,
    siteStatistics,
    calibration: [
      ...(e.statistics ? [calibrationRow("pooled", e.statistics)] : []),
      ...sites.flatMap((s) => (siteStatistics[s] ? [calibrationRow(s, siteStatistics[s])] : [])),
    ],
    segmentation: e.segmentation ?? null,
    ranking: e.statistics || e.rankingSource === "pooled" ? null : (e.ranking ?? null),
  };
}
