import { describe, expect, it } from "vitest";
import {
  buildReferenceModel,
  referenceForwardFlops,
  referenceTrainingFlops,
} from "../../../bench/reference-model.js";
import { type BenchRow, checkTargets, formatTable } from "../../../bench/train-report.js";
import { setUpBackends, tf } from "../../helpers/tf-backends.js";

describe("reference model", () => {
  it("has the issue's 295,188 parameters", async () => {
    await setUpBackends();
    await tf.setBackend("cpu");
    const model = buildReferenceModel(64);
    expect(model.countParams()).toBe(295_188);
    model.dispose();
  });

  it("counts FLOPs layer by layer", () => {
    // Multiply-adds of the eight 3x3 convolutions at 64x64 (output pixels x 9 x in x out), x2, plus the dense layer.
    const macs = [64 * 64 * 9 * 16, 32 * 32 * 9 * 256, 32 * 32 * 9 * 512, 16 * 16 * 9 * 1024];
    const moreMacs = [16 * 16 * 9 * 2048, 8 * 8 * 9 * 4096, 8 * 8 * 9 * 8192, 4 * 4 * 9 * 16384];
    const forward = 2 * [...macs, ...moreMacs].reduce((a, b) => a + b, 0) + 2 * 128 * 4;
    expect(referenceForwardFlops(64)).toBe(forward);
    expect(referenceTrainingFlops(64)).toBe(3 * forward - 2 * 64 * 64 * 9 * 16);
  });
});

describe("benchmark report", () => {
  const measured = (
    backend: BenchRow["backend"],
    inputSize: number,
    wall: number,
    perCore: number,
  ): BenchRow => ({
    backend,
    inputSize,
    status: "measured",
    warmupSteps: 2,
    stepsMs: [1],
    medianStepMs: 16_000 / wall,
    minStepMs: 16_000 / wall,
    medianCpuStepMs: 16_000 / perCore,
    imagesPerSecond: wall,
    imagesPerCpuSecond: perCore,
    gflopsPerSecond: 1,
  });

  it("checks the targets on the median wall-clock rate", () => {
    const targets = checkTargets([
      measured("wasm", 64, 50, 70),
      measured("cpu", 64, 0.2, 0.2),
      measured("wasm", 128, 16, 18),
    ]);
    expect(targets.map((t) => [t.measured, t.pass])).toEqual([
      [50, false],
      [250, true],
      [16, true],
    ]);
  });

  it("prints one aligned line per row", () => {
    const rows = [measured("wasm", 64, 50, 70), measured("wasm", 128, 16, 18)];
    const lines = formatTable(rows, checkTargets(rows)).split("\n");
    expect(lines[0]?.split(/\s{2,}/)).toEqual([
      "backend",
      "input",
      "step ms",
      "min ms",
      "images/s",
      "GFLOP/s",
      "cpu ms",
      "images/cpu-s",
      "note",
    ]);
    expect(lines[2]?.split(/\s{2,}/).slice(0, 8)).toEqual([
      "wasm",
      "64x64",
      "320.0",
      "320.0",
      "50.00",
      "1.00",
      "228.6",
      "70.00",
    ]);
    expect(lines).toContain("FAIL  wasm 64x64 images/s (one core): 50.0 (target >= 60)");
  });

  it("fails targets whose rows were not measured, and prints them", () => {
    const rows: BenchRow[] = [{ backend: "wasm", inputSize: 64, status: "unavailable", reason: "no wasm" }];
    const targets = checkTargets(rows);
    expect(targets.every((t) => !t.pass)).toBe(true);
    const table = formatTable(rows, targets);
    expect(table).toContain("unavailable: no wasm");
    expect(table).toContain("not measured");
  });
});
