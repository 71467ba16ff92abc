/**
 * The paper benchmark's charts as Vega-Lite specs (pure), drawn to SVG by cli/report/vega.ts:
 * macro-F1 per setting with 95 % intervals, and the findings' paired differences (a forest plot).
 */

import type { ChartSpec } from "../report/vega.js";
import type { Finding, RowSummary } from "./paper-results.js";

/** Fixed, so that a verdict has the same colour in every benchmark's chart. */
const VERDICT_COLOURS = {
  field: "verdict",
  type: "nominal",
  scale: {
    domain: ["holds", "does not hold", "cannot be told apart", "no data"],
    range: ["#2ca02c", "#d62728", "#7f7f7f", "#c7c7c7"],
  },
} as const;

const nullable = (v: number) => (Number.isFinite(v) ? v : null);

export function macroF1Chart(summaries: readonly RowSummary[]): ChartSpec {
  const values = summaries.map((s) => {
    const e = s.estimates.macroF1;
    return {
      setting: s.name,
      kind: s.kind,
      mean: nullable(e.mean),
      low: nullable(e.low),
      high: nullable(e.high),
      n: e.n,
    };
  });
  const y = { field: "setting", type: "nominal", sort: null, title: null } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "Macro-F1 per setting: mean over seeds, 95 % confidence interval",
    width: 420,
    data: { values },
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          y,
          x: { field: "mean", type: "quantitative", scale: { domain: [0, 1] }, title: "macro-F1" },
          color: { field: "kind", type: "nominal", title: "training" },
          tooltip: [
            { field: "setting" },
            { field: "mean", format: ".3f" },
            { field: "low", format: ".3f" },
            { field: "high", format: ".3f" },
            { field: "n", title: "seeds" },
          ],
        },
      },
      {
        // One seed has no interval: the whisker is left out rather than drawn as zero width.
        transform: [{ filter: "datum.low != null" }],
        mark: { type: "rule", color: "black" },
        encoding: { y, x: { field: "low", type: "quantitative" }, x2: { field: "high" } },
      },
    ],
  };
}

export function findingsChart(findings: readonly Finding[]): ChartSpec {
  const values = findings.map((f) => ({
    finding: f.id,
    claim: f.claim,
    verdict: f.verdict,
    mean: nullable(f.difference.mean),
    low: nullable(f.difference.low),
    high: nullable(f.difference.high),
  }));
  const y = { field: "finding", type: "nominal", sort: null, title: null } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "The paper's findings: paired difference a − b over seeds, 95 % confidence interval",
    width: 420,
    data: { values },
    layer: [
      {
        mark: { type: "rule", strokeDash: [4, 4], color: "gray" },
        data: { values: [{ zero: 0 }] },
        encoding: { x: { field: "zero", type: "quantitative" } },
      },
      {
        transform: [{ filter: "datum.low != null" }],
        mark: { type: "rule" },
        encoding: {
          y,
          x: { field: "low", type: "quantitative", title: "difference (a − b)" },
          x2: { field: "high" },
          color: VERDICT_COLOURS,
        },
      },
      {
        transform: [{ filter: "datum.mean != null" }],
        mark: { type: "point", filled: true, size: 60 },
        encoding: {
          y,
          x: { field: "mean", type: "quantitative" },
          color: VERDICT_COLOURS,
          tooltip: [{ field: "claim" }, { field: "mean", format: "+.3f" }, { field: "verdict" }],
        },
      },
    ],
  };
}
