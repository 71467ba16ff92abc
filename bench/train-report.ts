import type { BackendName } from "../shared/src/ml/tf/backend.js";

/** One backend at one input size. */
export interface BenchRow {
  readonly backend: BackendName;
  readonly inputSize: number;
  readonly status: "measured" | "skipped" | "unavailable";
  /** Why a row was skipped or unavailable. */
  readonly reason?: string;
  readonly warmupSteps?: number;
  readonly stepsMs?: number[];
  readonly medianStepMs?: number;
  readonly minStepMs?: number;
  readonly imagesPerSecond?: number;
  /** Model FLOPs of a training step (forward + both gradients) over the median step time. */
  readonly gflopsPerSecond?: number;
  /**
   * Process CPU time of each step (all threads: the training thread plus V8's garbage-collector
   * helpers). Well above wall time: other work shared the cores; below: GC ran in parallel.
   */
  readonly cpuStepsMs?: number[];
  readonly medianCpuStepMs?: number;
  /** Images per second of process CPU time. */
  readonly imagesPerCpuSecond?: number;
  readonly lastLoss?: number;
}

export interface TargetCheck {
  readonly name: string;
  readonly required: number;
  /** From the median wall-clock step time. Undefined where a row it needs was not measured. */
  readonly measured?: number;
  readonly pass: boolean;
}

/** The targets for the wasm path, checked against the rows of one run. */
export function checkTargets(rows: readonly BenchRow[]): TargetCheck[] {
  const rate = (backend: BackendName, size: number) =>
    rows.find((r) => r.backend === backend && r.inputSize === size && r.status === "measured")
      ?.imagesPerSecond;
  const check = (name: string, required: number, measured: number | undefined): TargetCheck =>
    measured === undefined
      ? { name, required, pass: false }
      : { name, required, measured, pass: measured >= required };
  const [wasm64, cpu64, wasm128] = [rate("wasm", 64), rate("cpu", 64), rate("wasm", 128)];
  return [
    check("wasm 64x64 images/s (one core)", 60, wasm64),
    check(
      "wasm 64x64 speed-up over the pure-JS CPU backend",
      150,
      wasm64 && cpu64 ? wasm64 / cpu64 : undefined,
    ),
    check("wasm 128x128 images/s (one core)", 15, wasm128),
  ];
}

/** A fixed-width table for stdout. */
export function formatTable(rows: readonly BenchRow[], targets: readonly TargetCheck[]): string {
  const header = [
    "backend",
    "input",
    "step ms",
    "min ms",
    "images/s",
    "GFLOP/s",
    "cpu ms",
    "images/cpu-s",
    "note",
  ];
  const ms = (value: number) => value.toFixed(value >= 1000 ? 0 : 1);
  const body = rows.map((r) => {
    const where = [r.backend, `${r.inputSize}x${r.inputSize}`];
    if (r.status !== "measured")
      return [...where, ...header.slice(2, -1).map(() => "-"), `${r.status}: ${r.reason ?? ""}`];
    return [
      ...where,
      ms(r.medianStepMs ?? Number.NaN),
      ms(r.minStepMs ?? Number.NaN),
      (r.imagesPerSecond ?? Number.NaN).toFixed(2),
      (r.gflopsPerSecond ?? Number.NaN).toFixed(2),
      ms(r.medianCpuStepMs ?? Number.NaN),
      (r.imagesPerCpuSecond ?? Number.NaN).toFixed(2),
      `median of ${r.stepsMs?.length} step(s) after ${r.warmupSteps} warm-up`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd();
  const targetLines = targets.map(
    (t) =>
      `${t.pass ? "PASS" : "FAIL"}  ${t.name}: ${t.measured === undefined ? "not measured" : t.measured.toFixed(1)} (target >= ${t.required})`,
  );
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line), "", ...targetLines].join(
    "\n",
  );
}
