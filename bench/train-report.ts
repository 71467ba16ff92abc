import type { BackendName } from "../shared/src/ml/tf/backend.js";
import type { BlockTimings } from "./train-step.js";
import type { ParameterCounts, WorkloadName } from "./workloads/workload.js";

/** One side's steps over all its blocks of a run, summarised. */
export interface SideSummary {
  readonly stepsMs: number[];
  readonly cpuStepsMs: number[];
  readonly medianStepMs: number;
  readonly minStepMs: number;
  /** Batch over the median wall-clock step. */
  readonly imagesPerSecond: number;
  /** Process CPU time (all threads: the step's plus the runtime's helpers, e.g. V8's GC). */
  readonly medianCpuStepMs: number;
  /** Batch over the median CPU time of a step: images per second of one busy core. */
  readonly imagesPerCpuSecond: number;
  readonly lastLoss: number;
}

export type SideResult =
  | { readonly status: "measured"; readonly parameters: ParameterCounts; readonly summary: SideSummary }
  | {
      readonly status: "skipped" | "unavailable";
      readonly reason: string;
      readonly parameters?: ParameterCounts;
    };

/** A workload at one input size: the tfjs step on one backend and its PyTorch twin, alternated. */
export interface TrainRow {
  readonly workload: WorkloadName;
  readonly inputSize: number;
  readonly batch: number;
  readonly backend: BackendName;
  readonly tfjs: SideResult;
  readonly torch: SideResult;
  /** Model FLOPs of a training step over the tfjs median step time, where the workload counts them. */
  readonly tfjsGflopsPerSecond?: number;
}

/**
 * The targets, tfjs images/s over PyTorch's, one thread each, on the wasm backend.
 * The small CNN is reported without one.
 */
export const RATIO_TARGETS: Readonly<Record<WorkloadName, number | undefined>> = {
  reference: 1.0,
  "small-cnn": undefined,
  multitask: 0.8,
  moco: 0.8,
};
export const TARGET_BACKEND: BackendName = "wasm";

export interface Comparison {
  /** tfjs images/s over torch images/s (median wall-clock steps). */
  readonly ratio?: number;
  /** The same on process CPU time per step. */
  readonly cpuRatio?: number;
  readonly target?: number;
  readonly verdict: "met" | "not met" | "report only" | "no ratio";
  /** Why there is no ratio or no verdict. */
  readonly note?: string;
}

export function summarise(batch: number, blocks: readonly BlockTimings[]): SideSummary {
  const stepsMs = blocks.flatMap((b) => b.stepsMs);
  const cpuStepsMs = blocks.flatMap((b) => b.cpuMs);
  if (stepsMs.length === 0) throw new Error("summarise: no timed steps");
  const medianStepMs = median(stepsMs);
  const medianCpuStepMs = median(cpuStepsMs);
  return {
    stepsMs: stepsMs.map(round1),
    cpuStepsMs: cpuStepsMs.map(round1),
    medianStepMs,
    minStepMs: Math.min(...stepsMs),
    imagesPerSecond: (batch * 1000) / medianStepMs,
    medianCpuStepMs,
    imagesPerCpuSecond: (batch * 1000) / medianCpuStepMs,
    lastLoss: blocks[blocks.length - 1]?.lastLoss ?? Number.NaN,
  };
}

const sameCounts = (a: ParameterCounts, b: ParameterCounts) =>
  a.trainable === b.trainable && a.total === b.total;
const counts = (p: ParameterCounts) => `${p.trainable}/${p.total}`;

/** The ratios of a row and its verdict; no ratio for a twin whose parameter counts differ. */
export function compare(row: TrainRow): Comparison {
  const { tfjs, torch } = row;
  if (tfjs.parameters && torch.parameters && !sameCounts(tfjs.parameters, torch.parameters))
    return {
      verdict: "no ratio",
      note: `parameter counts differ (trainable/total: tfjs ${counts(tfjs.parameters)}, torch ${counts(torch.parameters)}): fix the twin`,
    };
  if (tfjs.status !== "measured") return { verdict: "no ratio", note: `tfjs ${tfjs.status}: ${tfjs.reason}` };
  if (torch.status !== "measured") return { verdict: "no ratio", note: `torch: ${torch.reason}` };
  const ratio = tfjs.summary.imagesPerSecond / torch.summary.imagesPerSecond;
  const cpuRatio = tfjs.summary.imagesPerCpuSecond / torch.summary.imagesPerCpuSecond;
  const target = RATIO_TARGETS[row.workload];
  if (target === undefined) return { ratio, cpuRatio, verdict: "report only" };
  if (row.backend !== TARGET_BACKEND)
    return { ratio, cpuRatio, target, verdict: "report only", note: `the target is for ${TARGET_BACKEND}` };
  return { ratio, cpuRatio, target, verdict: ratio >= target ? "met" : "not met" };
}

/**
 * Which side goes first in each round: tfjs then torch, then the other way round, so that a
 * drift in the machine's load over the run (or the cache each side leaves) favours neither.
 */
export function alternationSchedule(rounds: number): ("tfjs" | "torch")[][] {
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds must be a positive integer (got ${rounds})`);
  return Array.from({ length: rounds }, (_, r) => (r % 2 === 0 ? ["tfjs", "torch"] : ["torch", "tfjs"]));
}

const HEADER = [
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
];

/** A fixed-width table for stdout, one line per row; the last column says why a ratio or verdict is missing. */
export function formatTable(rows: readonly TrainRow[]): string {
  // Two significant digits under 10^(1 - digits) (1 for one decimal, 0.1 for two): the pure-JS
  // CPU backend's fraction of an image a second would otherwise print as 0.0.
  const fixed = (value: number | undefined, digits: number) =>
    value === undefined ? "-" : value < 10 ** (1 - digits) ? value.toPrecision(2) : value.toFixed(digits);
  const side = (s: SideResult) => (s.status === "measured" ? s.summary : undefined);
  const body = rows.map((row) => {
    const c = compare(row);
    return [
      row.workload,
      `${row.inputSize}x${row.inputSize}`,
      row.backend,
      String(row.tfjs.parameters?.trainable ?? "-"),
      fixed(side(row.tfjs)?.imagesPerSecond, 1),
      fixed(side(row.torch)?.imagesPerSecond, 1),
      fixed(c.ratio, 2),
      fixed(side(row.tfjs)?.medianCpuStepMs, 1),
      fixed(side(row.torch)?.medianCpuStepMs, 1),
      fixed(c.cpuRatio, 2),
      c.target === undefined ? "-" : `>= ${c.target.toFixed(1)}`,
      c.verdict,
      c.note ?? "",
    ];
  });
  const widths = HEADER.map((h, i) =>
    Math.max(h.length, ...body.map((cells) => (cells[i] as string).length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd();
  return [line(HEADER), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}
