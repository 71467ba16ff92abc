import { describe, expect, it } from "vitest";
import { cell } from "../../../cli/report/build-report.js";
import { formatCell } from "../../../cli/report/document.js";
import { type ReadinessInput, readinessStatements } from "../../../cli/report/readiness.js";
import type { AnalysisReport } from "../../../shared/src/analysis/types.js";

const base: ReadinessInput = {
  completed: true,
  lastCommittedRound: 10,
  plannedRounds: 10,
  classF1: [
    { name: "negative", f1: 0.8 },
    { name: "typical", f1: 0.9 },
  ],
  calibration: { ece: 0.04 },
  macroF1: { value: 0.85, low: 0.8, high: 0.88 },
  siteMacroF1: { a: 0.86, b: 0.84 },
  analysis: null,
};

const byId = (input: ReadinessInput) => new Map(readinessStatements(input).map((s) => [s.id, s]));

const analysis = (over: Partial<AnalysisReport> = {}): AnalysisReport => ({
  version: 1,
  createdAt: "2026-12-02T00:00:00.000Z",
  model: { version: 10, sha256: "ab".repeat(32), architecture: "small-cnn" },
  saliency: {
    method: "grad-cam",
    layer: "conv2d_3",
    gallery: [],
    sanity: [
      { randomisedUpTo: "dense", meanSpearman: 0.4, images: 8 },
      { randomisedUpTo: "conv2d_1", meanSpearman: 0.95, images: 8 },
    ],
    sanityPassed: false,
  },
  shortcuts: {
    markers: [
      { site: "a", condition: "as-is", images: 50, accuracy: 0.8, macroF1: 0.7 },
      { site: "a", condition: "removed", images: 50, accuracy: 0.78, macroF1: 0.7 },
      { site: "a", condition: "swapped", from: "b", images: 50, accuracy: 0.6, macroF1: 0.5 },
    ],
    siteProbe: { features: 64, trainImages: 100, testImages: 50, accuracy: 0.9, chance: 0.34 },
  },
  ...over,
});

describe("deploy-readiness statements", () => {
  it("says a healthy run is healthy, each statement with its number", () => {
    const s = byId(base);
    expect(s.get("stopped-early")).toBeUndefined();
    expect(s.get("hard-class")).toMatchObject({ severity: "ok", value: 0.8 });
    expect(s.get("hard-class")?.text).toContain("lowest is negative (0.800)");
    expect(s.get("calibration")).toMatchObject({ severity: "ok", value: 0.04 });
    // Width 0.88 - 0.80 = 0.08, under the 0.1 line.
    expect(s.get("interval")?.severity).toBe("ok");
    expect(s.get("interval")?.value).toBeCloseTo(0.08, 12);
    expect(s.get("site-gap")?.severity).toBe("ok");
    expect(s.get("site-gap")?.value).toBeCloseTo(0.02, 12);
    expect(s.get("analysis")?.severity).toBe("info");
  });

  it("states each failure mode plainly", () => {
    const s = byId({
      ...base,
      completed: false,
      lastCommittedRound: 4,
      classF1: [
        { name: "typical", f1: 0.9 },
        { name: "indeterminate", f1: 0.3 },
        { name: "atypical", f1: 0 },
      ],
      calibration: { ece: 0.17, temperature: { fitted: 1.8, after: { ece: 0.05 } } },
      macroF1: { value: 0.5, low: 0.35, high: 0.61 },
      siteMacroF1: { a: 0.7, b: 0.4, c: 0.55 },
      analysis: analysis(),
    });
    expect(s.get("stopped-early")).toMatchObject({ severity: "fail", value: 4 });
    expect(s.get("stopped-early")?.text).toContain("after committed round 4 of 10");
    expect(s.get("hard-class.indeterminate")).toMatchObject({ severity: "warn", value: 0.3 });
    expect(s.get("hard-class.atypical")).toMatchObject({ severity: "fail", value: 0 });
    expect(s.has("hard-class.typical")).toBe(false);
    expect(s.get("calibration")?.severity).toBe("warn");
    expect(s.get("calibration")?.text).toContain("ECE 0.170");
    expect(s.get("calibration")?.text).toContain("T = 1.80");
    expect(s.get("calibration")?.text).toContain("gives ECE 0.050");
    expect(s.get("interval")?.severity).toBe("warn");
    expect(s.get("interval")?.value).toBeCloseTo(0.26, 12);
    // Best a (0.7) against worst b (0.4).
    expect(s.get("site-gap")?.severity).toBe("warn");
    expect(s.get("site-gap")?.value).toBeCloseTo(0.3, 12);
    expect(s.get("site-gap")?.text).toContain("0.400 at b against 0.700 at a");
    expect(s.get("saliency-sanity")).toMatchObject({ severity: "fail", value: 0.95 });
    // The biggest drop is the swap: 0.8 - 0.6 = 0.2 (removing costs only 0.02).
    expect(s.get("shortcut")?.severity).toBe("warn");
    expect(s.get("shortcut")?.value).toBeCloseTo(0.2, 12);
    expect(s.get("shortcut")?.text).toContain("swapped for b's");
    expect(s.get("site-probe")).toMatchObject({ severity: "warn", value: 0.9 });
  });

  it("says what is unknown rather than guessing", () => {
    const s = byId({
      ...base,
      calibration: null,
      macroF1: { value: 0.6 },
      siteMacroF1: { only: 0.6 },
      classF1: null,
    });
    expect(s.get("calibration")).toMatchObject({ severity: "info", value: null });
    expect(s.get("interval")?.text).toContain("no interval (n = 1)");
    expect(s.has("site-gap")).toBe(false);
    expect(s.get("no-evaluation")?.severity).toBe("fail");
    const bad = byId({ ...base, analysis: { error: "analysis.json: bad JSON" } });
    expect(bad.get("analysis")?.text).toContain("bad JSON");
  });

  it("passes a sanity check and a probe at chance as such", () => {
    const ok = analysis({
      saliency: {
        method: "grad-cam",
        layer: "conv2d_3",
        gallery: [],
        sanity: [{ randomisedUpTo: "conv2d_1", meanSpearman: 0.05, images: 8 }],
        sanityPassed: true,
      },
      shortcuts: {
        markers: [
          { site: "a", condition: "as-is", images: 50, accuracy: 0.8, macroF1: 0.7 },
          { site: "a", condition: "removed", images: 50, accuracy: 0.82, macroF1: 0.7 },
        ],
        siteProbe: { features: 64, trainImages: 100, testImages: 50, accuracy: 0.4, chance: 0.34 },
      },
    });
    const s = byId({ ...base, analysis: ok });
    expect(s.get("saliency-sanity")?.severity).toBe("ok");
    expect(s.get("shortcut")?.severity).toBe("ok");
    expect(s.get("shortcut")?.value).toBeCloseTo(-0.02, 12);
    expect(s.get("site-probe")?.severity).toBe("ok");
  });
});

describe("table cells", () => {
  it("print an interval, or say why there is none instead of a zero spread", () => {
    const stats = {
      intervals: {
        accuracy: { estimate: 0.5, low: 0.41, high: 0.6, replicates: 200 },
        macroF1: { estimate: 0.5, low: 0.5, high: 0.5, replicates: 1 },
      },
    } as unknown as Parameters<typeof cell>[1];
    expect(formatCell(cell(0.5, stats, "accuracy"))).toBe("0.500 [0.410, 0.600]");
    expect(formatCell(cell(0.5, stats, "macroF1"))).toBe("0.500 (n = 1)");
    expect(formatCell(cell(0.5, stats, "f1.negative"))).toBe("0.500 (no interval)");
    expect(formatCell(cell(0.5, undefined, "accuracy"))).toBe("0.500 (no interval)");
  });
});
