import { describe, expect, it } from "vitest";
import { findingsChart, macroF1Chart } from "../../../cli/bench/paper-charts.js";
import type { BenchRow, Finding, RunMetrics } from "../../../cli/bench/paper-results.js";
import { summariseRow } from "../../../cli/bench/paper-table.js";
import { estimate } from "../../../cli/bench/stats.js";
import { renderChartSvg } from "../../../cli/report/vega.js";

const metrics = (v: number): RunMetrics => ({
  macroF1: v,
  accuracy: v,
  mAP: v,
  macroAuc: v,
  dice: v,
  f1: {},
});
const row = (name: string, kind: BenchRow["kind"], values: number[]): BenchRow => ({
  name,
  kind,
  runs: values.map((v, i) => ({ seed: i + 1, metrics: metrics(v), seconds: 1, reused: false })),
});

/** The elements drawn inside the group of marks whose class contains `name`. */
function marks(svg: string, name: string): string[] {
  const group = svg.match(new RegExp(`<g class="[^"]*${name}[^"]*"[^>]*>(.*?)</g>`));
  return group?.[1]?.match(/<(path|line)\b[^>]*>/g) ?? [];
}

describe("the benchmark's charts (Vega-Lite, rendered offline to SVG)", () => {
  it("draw one bar per setting, and a whisker only where there is an interval", async () => {
    const rows = [
      row("a", "federated", [0.2, 0.3, 0.25]),
      row("b", "centralised", [0.5]),
      row("c", "local-only", [0.1, 0.2]),
    ];
    const svg = await renderChartSvg(macroF1Chart(rows.map(summariseRow)));
    expect(svg.startsWith("<svg")).toBe(true);
    const bars = marks(svg, "layer_0_marks");
    expect(bars).toHaveLength(3);
    expect(marks(svg, "layer_1_marks")).toHaveLength(2);
    // Bar lengths are the means on a 0–1 axis of 420 px: 0.25 → 105, 0.5 → 210, 0.15 → 63.
    const widths = bars.map((b) => Number(b.match(/d="M[\d.]+,[\d.]+h([\d.]+)/)?.[1]));
    expect(widths.map((w) => Math.round(w * 1000) / 1000)).toEqual([105, 210, 63]);
    expect(svg).toContain("centralised");
  });

  it("plot each finding's mean difference with its interval around a line at 0", async () => {
    const finding = (id: string, values: number[]): Finding => {
      const e = estimate(values);
      return {
        id,
        claim: id,
        contrast: "",
        metric: "macro-F1",
        difference: { ...e, seeds: values.map((_, i) => i + 1), differences: values },
        verdict: "holds",
      };
    };
    const svg = await renderChartSvg(
      findingsChart([finding("x", [0.1, 0.2, 0.15]), finding("y", [-0.1, 0.05])]),
    );
    expect(marks(svg, "layer_1_marks")).toHaveLength(2);
    expect(marks(svg, "layer_2_marks")).toHaveLength(2);
    expect(svg).toContain(">x<");
  });
});
