import { describe, expect, it } from "vitest";
import { TORCH_MISSING } from "../../../bench/torch/twin-process.js";
import {
  alternationSchedule,
  compare,
  formatTable,
  type SideResult,
  summarise,
  type TrainRow,
} from "../../../bench/train-report.js";
import { parseWorkloads } from "../../../bench/workloads/workload.js";

const parameters = { trainable: 1000, total: 1200 };

/** A side whose steps all took `stepMs` of wall time and `cpuMs` of CPU time. */
function measured(stepMs: number, cpuMs: number, counts = parameters): SideResult {
  return {
    status: "measured",
    parameters: counts,
    summary: summarise(16, [{ stepsMs: [stepMs, stepMs], cpuMs: [cpuMs, cpuMs], lastLoss: 1 }]),
  };
}

function row(overrides: Partial<TrainRow>): TrainRow {
  return {
    workload: "reference",
    inputSize: 64,
    batch: 16,
    backend: "wasm",
    tfjs: measured(200, 100),
    torch: measured(100, 80),
    ...overrides,
  };
}

describe("summarise", () => {
  it("takes medians over every block's steps and turns them into images per second", () => {
    const summary = summarise(16, [
      { stepsMs: [100, 400], cpuMs: [90, 300], lastLoss: 2 },
      { stepsMs: [200], cpuMs: [150], lastLoss: 1.5 },
    ]);
    expect(summary.medianStepMs).toBe(200);
    expect(summary.minStepMs).toBe(100);
    expect(summary.imagesPerSecond).toBe(80); // 16 images / 0.2 s
    expect(summary.medianCpuStepMs).toBe(150);
    expect(summary.imagesPerCpuSecond).toBeCloseTo(16 / 0.15, 10);
    expect(summary.lastLoss).toBe(1.5);
    expect(summary.stepsMs).toEqual([100, 400, 200]);
  });

  it("refuses an empty measurement", () => {
    expect(() => summarise(16, [])).toThrow(/no timed steps/);
  });
});

describe("compare", () => {
  it("gives wall-clock and CPU-time ratios and checks the reference target on wasm", () => {
    // tfjs 80 images/s (16 / 0.2 s) against torch 160: 0.5; CPU 160 against 200: 0.8.
    const c = compare(row({}));
    expect(c.ratio).toBeCloseTo(0.5, 12);
    expect(c.cpuRatio).toBeCloseTo(0.8, 12);
    expect(c).toMatchObject({ target: 1, verdict: "not met" });
    expect(compare(row({ tfjs: measured(100, 80) })).verdict).toBe("met"); // exactly 1.0
  });

  it("holds multi-task and MoCo to 0.8 and reports the small CNN without a target", () => {
    // tfjs 16/0.125 = 128 images/s against 160: 0.8.
    expect(compare(row({ workload: "multitask", tfjs: measured(125, 100) }))).toMatchObject({
      target: 0.8,
      verdict: "met",
    });
    expect(compare(row({ workload: "moco", tfjs: measured(126, 100) })).verdict).toBe("not met");
    const small = compare(row({ workload: "small-cnn" }));
    expect(small.verdict).toBe("report only");
    expect(small.target).toBeUndefined();
    expect(small.ratio).toBeCloseTo(0.5, 12);
  });

  it("refuses a ratio when the twin's parameter counts differ", () => {
    for (const counts of [
      { trainable: 1001, total: 1200 },
      { trainable: 1000, total: 1199 },
    ]) {
      const c = compare(row({ torch: measured(100, 80, counts) }));
      expect(c.verdict).toBe("no ratio");
      expect(c.ratio).toBeUndefined();
      expect(c.note).toContain(`tfjs 1000/1200, torch ${counts.trainable}/${counts.total}`);
    }
  });

  it("says why a side is missing", () => {
    const c = compare(row({ torch: { status: "unavailable", reason: TORCH_MISSING } }));
    expect(c).toEqual({ verdict: "no ratio", note: `torch: ${TORCH_MISSING}` });
  });

  it("reports other backends against torch without a verdict", () => {
    expect(compare(row({ backend: "cpu" }))).toMatchObject({ verdict: "report only", target: 1 });
  });
});

describe("alternationSchedule", () => {
  it("swaps which side goes first every round", () => {
    expect(alternationSchedule(3)).toEqual([
      ["tfjs", "torch"],
      ["torch", "tfjs"],
      ["tfjs", "torch"],
    ]);
  });

  it("rejects a round count that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => alternationSchedule(bad)).toThrow(/--rounds/);
  });
});

describe("formatTable", () => {
  it("prints one aligned line per row with the ratios, target and verdict", () => {
    const lines = formatTable([
      row({}),
      row({ workload: "moco", inputSize: 32, torch: { status: "unavailable", reason: TORCH_MISSING } }),
    ]).split("\n");
    expect(lines[0]?.split(/\s{2,}/)).toEqual([
      "workload",
      "input",
      "backend",
      "params",
      "tfjs img/s",
      "torch img/s",
      "ratio",
      "tfjs cpu ms",
      "torch cpu ms",
      "cpu ratio",
      "target",
      "verdict",
      "note",
    ]);
    expect(lines[2]?.split(/\s{2,}/)).toEqual([
      "reference",
      "64x64",
      "wasm",
      "1000",
      "80.0",
      "160.0",
      "0.50",
      "100.0",
      "80.0",
      "0.80",
      ">= 1.0",
      "not met",
    ]);
    expect(lines[3]?.split(/\s{2,}/)).toEqual([
      "moco",
      "32x32",
      "wasm",
      "1000",
      "80.0",
      "-",
      "-",
      "100.0",
      "-",
      "-",
      "-",
      "no ratio",
      `torch: ${TORCH_MISSING}`,
    ]);
    // Aligned: every column starts at the same offset on every line.
    expect(lines[2]?.indexOf("64x64")).toBe(lines[0]?.indexOf("input"));
    expect(lines[3]?.indexOf("no ratio")).toBe(lines[0]?.indexOf("verdict"));
  });
});

describe("formatTable on the pure-JS CPU backend", () => {
  it("keeps two significant digits of rates and ratios far below one", () => {
    // 16 images in 80 s: 0.2 images/s, against torch's 160: a ratio of 0.00125.
    const line = formatTable([row({ backend: "cpu", tfjs: measured(80_000, 80_000) })]).split("\n")[2];
    expect(line?.split(/\s{2,}/).slice(3, 9)).toEqual(["1000", "0.20", "160.0", "0.0013", "80000.0", "80.0"]);
  });
});

describe("parseWorkloads", () => {
  it("keeps the order given and names the known workloads on a typo", () => {
    expect(parseWorkloads("moco, reference")).toEqual(["moco", "reference"]);
    expect(() => parseWorkloads("reference,mocco")).toThrow(
      "unknown mocco; choose from reference, small-cnn, multitask, moco",
    );
    expect(() => parseWorkloads("")).toThrow(/empty list/);
  });
});
