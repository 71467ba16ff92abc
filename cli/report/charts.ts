/**
 * The report's charts as Vega-Lite specs, built from the report's numbers. Pure: rendering them
 * to SVG is vega.ts's job. Each chart belongs to one section and has an id that is stable
 * across runs (tests and the Markdown's file names use it).
 */
import type {
  CurvePoint,
  ReliabilityBin,
  StatisticsSummary,
} from "../../shared/src/metrics/evaluation-statistics.js";
import type { ChartSpec } from "./vega.js";

type LayerSpec = Extract<ChartSpec, { layer: unknown }>["layer"][number];

import type { RunReport } from "./types.js";

export type ChartSection =
  | "curves"
  | "confusion"
  | "curves-roc-pr"
  | "calibration"
  | "central"
  | "saliency"
  | "shortcuts"
  | "privacy"
  | "benchmark";

export interface Chart {
  readonly id: string;
  readonly section: ChartSection;
  readonly title: string;
  readonly spec: ChartSpec;
}

const W = 300;
const H = 190;
const unit = { scale: { domain: [0, 1] } };
const DIAGONAL: LayerSpec = {
  data: {
    values: [
      { x: 0, y: 0 },
      { x: 1, y: 1 },
    ],
  },
  mark: { type: "line", strokeDash: [4, 4], color: "#999" },
  encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
};

function lineChart(
  title: string,
  values: ReadonlyArray<Record<string, unknown>>,
  x: { field: string; title: string },
  y: { field: string; title: string; unit?: boolean },
  color: string,
): ChartSpec {
  return {
    title,
    width: W,
    height: H,
    data: { values: values as Record<string, unknown>[] },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: x.field, type: "quantitative", title: x.title, axis: { tickMinStep: 1, format: "d" } },
      y: { field: y.field, type: "quantitative", title: y.title, ...(y.unit && unit) },
      color: { field: color, type: "nominal", title: null },
    },
  };
}

function curveChart(
  title: string,
  curves: ReadonlyArray<{ name: string; points: readonly CurvePoint[] }>,
  axes: [string, string],
  diagonal: boolean,
): ChartSpec {
  const values = curves.flatMap((c) =>
    c.points.map((p, order) => ({ series: c.name, x: p.x, y: p.y, order })),
  );
  return {
    title,
    width: W,
    height: W * 0.75,
    layer: [
      ...(diagonal ? [DIAGONAL] : []),
      {
        data: { values },
        mark: { type: "line", interpolate: "linear" },
        encoding: {
          x: { field: "x", type: "quantitative", title: axes[0], ...unit },
          y: { field: "y", type: "quantitative", title: axes[1], ...unit },
          color: { field: "series", type: "nominal", title: null },
          order: { field: "order", type: "quantitative" },
        },
      },
    ],
  };
}

function reliabilityChart(
  title: string,
  series: ReadonlyArray<{ name: string; bins: readonly ReliabilityBin[] }>,
): ChartSpec {
  const values = series.flatMap((s) =>
    s.bins
      .filter((b) => b.count > 0)
      .map((b) => ({ series: s.name, predicted: b.meanPredicted, observed: b.observed, count: b.count })),
  );
  return {
    title,
    width: W * 0.8,
    height: W * 0.8,
    layer: [
      DIAGONAL,
      {
        data: { values },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "predicted", type: "quantitative", title: "mean predicted probability", ...unit },
          y: { field: "observed", type: "quantitative", title: "observed frequency", ...unit },
          color: { field: "series", type: "nominal", title: null },
          tooltip: [{ field: "count", type: "quantitative" }],
        },
      },
    ],
  };
}

function confusionChart(
  title: string,
  matrix: readonly (readonly number[])[],
  keys: readonly string[],
): ChartSpec {
  const values = matrix.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({
      truth: keys[t] ?? String(t),
      predicted: keys[p] ?? String(p),
      count,
      share: total > 0 ? count / total : 0,
    }));
  });
  const order = [...keys];
  return {
    title,
    width: 200,
    height: 200,
    data: { values },
    encoding: {
      x: { field: "predicted", type: "ordinal", sort: order, title: "predicted", axis: { labelAngle: -30 } },
      y: { field: "truth", type: "ordinal", sort: order, title: "true" },
    },
    layer: [
      {
        mark: "rect",
        encoding: {
          color: {
            field: "share",
            type: "quantitative",
            title: "share of row",
            scale: { domain: [0, 1], scheme: "blues" },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 12 },
        encoding: {
          text: { field: "count", type: "quantitative" },
          color: { condition: { test: "datum.share > 0.5", value: "white" }, value: "black" },
        },
      },
    ],
  };
}

function groupedBars(
  title: string,
  values: ReadonlyArray<Record<string, unknown>>,
  group: string,
  series: string,
  y: string,
  yTitle: string,
): ChartSpec {
  return {
    title,
    width: W,
    height: H,
    data: { values: values as Record<string, unknown>[] },
    mark: "bar",
    encoding: {
      x: { field: group, type: "nominal", title: null },
      xOffset: { field: series, type: "nominal" },
      y: { field: y, type: "quantitative", title: yTitle },
      color: { field: series, type: "nominal", title: null },
    },
  };
}

function rocPr(
  prefix: string,
  section: ChartSection,
  label: string,
  s: StatisticsSummary,
  keys: readonly string[],
): Chart[] {
  const per = (curves: CurvePoint[][]) =>
    curves.map((points, i) => ({ name: keys[i] ?? String(i), points })).filter((c) => c.points.length > 0);
  return [
    {
      id: `${prefix}roc`,
      section,
      title: `ROC, ${label}`,
      spec: curveChart(
        `ROC per class (${label})`,
        per(s.roc),
        ["false positive rate", "true positive rate"],
        true,
      ),
    },
    {
      id: `${prefix}pr`,
      section,
      title: `Precision-recall, ${label}`,
      spec: curveChart(`Precision-recall per class (${label})`, per(s.pr), ["recall", "precision"], false),
    },
  ];
}

/**
 * Sites drawn one by one (confusion matrices, reliability per site): beyond this a page of
 * hundreds of charts says less than the tables, and report.json keeps every site's numbers.
 */
export const MAX_CHARTED_SITES = 30;

export function buildCharts(report: RunReport): Chart[] {
  const charts: Chart[] = [];
  const keys = report.classKeys;
  const training = [
    ...report.curves.rounds.flatMap((r) =>
      r.trainLoss === null ? [] : [{ round: r.round, who: "all sites", loss: r.trainLoss }],
    ),
    ...report.curves.siteTraining.map((t) => ({ round: t.round, who: t.site, loss: t.loss })),
  ];
  if (training.length > 0)
    charts.push({
      id: "train-loss",
      section: "curves",
      title: "Training loss",
      spec: lineChart(
        "Training loss per round",
        training,
        { field: "round", title: "round" },
        { field: "loss", title: "training loss" },
        "who",
      ),
    });
  const metricNames = { macroF1: "Macro-F1", accuracy: "Accuracy", macroAuc: "Macro ROC-AUC" } as const;
  for (const metric of ["macroF1", "accuracy", "macroAuc"] as const) {
    const points = report.curves.evaluation.filter((p) => p.metric === metric);
    if (points.length > 0)
      charts.push({
        id: `eval-${metric}`,
        section: "curves",
        title: metricNames[metric],
        spec: lineChart(
          `${metricNames[metric]} per evaluated round`,
          points,
          { field: "round", title: "round" },
          { field: "value", title: metricNames[metric], unit: true },
          "who",
        ),
      });
  }
  const f = report.final;
  if (f) {
    // f.confusion is the pooled matrix, then one per site.
    for (const c of f.confusion.slice(0, MAX_CHARTED_SITES + 1))
      charts.push({
        id: `confusion-${c.name}`,
        section: "confusion",
        title: `Confusion, ${c.name}`,
        spec: confusionChart(`${c.name} (rows: true class)`, c.matrix, keys),
      });
    const pooled = f.pooledStatistics;
    if (pooled) {
      charts.push(...rocPr("pooled-", "curves-roc-pr", "pooled", pooled, keys));
      charts.push({
        id: "reliability-pooled",
        section: "calibration",
        title: "Reliability, pooled",
        spec: reliabilityChart("Top-label reliability (pooled)", [
          { name: "pooled", bins: pooled.reliability },
        ]),
      });
      charts.push({
        id: "reliability-classes",
        section: "calibration",
        title: "Reliability per class",
        spec: reliabilityChart(
          "Class-wise reliability (pooled)",
          pooled.classReliability.map((bins, i) => ({ name: keys[i] ?? String(i), bins })),
        ),
      });
    }
    const sites = Object.entries(f.siteStatistics).slice(0, MAX_CHARTED_SITES);
    if (sites.length > 0)
      charts.push({
        id: "reliability-sites",
        section: "calibration",
        title: "Reliability per site",
        spec: reliabilityChart(
          "Top-label reliability per site",
          sites.map(([name, s]) => ({ name, bins: s.reliability })),
        ),
      });
  }
  const central = report.central;
  if (central) {
    charts.push({
      id: "confusion-central",
      section: "central",
      title: `Confusion, ${central.siteId}`,
      spec: confusionChart(`${central.siteId} (rows: true class)`, central.confusion, keys),
    });
    if (central.statistics)
      charts.push(...rocPr("central-", "central", central.siteId, central.statistics, keys));
  }
  const a = report.analysis;
  if (a && !("error" in a)) {
    if (a.saliency && !("skipped" in a.saliency) && a.saliency.sanity.length > 0)
      charts.push({
        id: "saliency-sanity",
        section: "saliency",
        title: "Randomisation sanity check",
        spec: {
          title: "Spearman ρ, trained vs randomised maps",
          width: W,
          height: H,
          data: { values: a.saliency.sanity.map((s, step) => ({ ...s, step })) },
          mark: { type: "line", point: true },
          encoding: {
            x: {
              field: "randomisedUpTo",
              type: "ordinal",
              sort: { field: "step" },
              title: "re-initialised up to",
            },
            y: {
              field: "meanSpearman",
              type: "quantitative",
              title: "mean Spearman ρ",
              scale: { domain: [-1, 1] },
            },
          },
        },
      });
    if (a.shortcuts && !("skipped" in a.shortcuts) && a.shortcuts.markers.length > 0)
      charts.push({
        id: "shortcut-markers",
        section: "shortcuts",
        title: "Accuracy with markers as-is, removed, swapped",
        spec: groupedBars(
          "Test accuracy by marker condition",
          a.shortcuts.markers.map((m) => ({ site: m.site, condition: m.condition, accuracy: m.accuracy })),
          "site",
          "condition",
          "accuracy",
          "accuracy",
        ),
      });
    if (a.disparities && !("skipped" in a.disparities) && a.disparities.perClass.length > 0)
      charts.push({
        id: "disparity-classes",
        section: "shortcuts",
        title: "Per-class F1 by site",
        spec: groupedBars(
          "F1 per class and site",
          a.disparities.perClass.flatMap((c) =>
            Object.entries(c.bySite).map(([site, f1]) => ({ classKey: c.classKey, site, f1 })),
          ),
          "classKey",
          "site",
          "f1",
          "F1",
        ),
      });
  }
  if (report.privacy.epsilon.length > 0)
    charts.push({
      id: "privacy-epsilon",
      section: "privacy",
      title: "ε per round",
      spec: lineChart(
        "Privacy budget spent (ε) per round",
        report.privacy.epsilon.map((e) => ({ ...e, who: "ε" })),
        { field: "round", title: "round" },
        { field: "epsilon", title: "ε" },
        "who",
      ),
    });
  return charts;
}
