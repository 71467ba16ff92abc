/** The benchmark's table and the targets, read off the runs (pure). */
import type { RunResult } from "./run.js";
import { memoryVerdict, overheadVerdict, transferVerdict, type Verdict } from "./split.js";

/** The model size and cohort the overhead target is stated for (ResNet-18, 3 clients). */
export const OVERHEAD_AT = { parameters: 11_000_000, clients: 3 } as const;
/** The cohort the memory target is stated for. */
export const MEMORY_AT_CLIENTS = 25;

export interface TargetRow {
  readonly target: string;
  readonly run: string;
  readonly verdict: Verdict;
}

export function runLabel(r: Pick<RunResult, "config">): string {
  const { parameters, clients, tls } = r.config;
  return `${formatParameters(parameters)} × ${clients}${tls ? " TLS" : ""}`;
}

export function formatParameters(parameters: number): string {
  return parameters >= 1e6 ? `${+(parameters / 1e6).toFixed(1)}M` : `${+(parameters / 1e3).toFixed(1)}k`;
}

/**
 * Every target each run can speak to: transfer in every run, the overhead where the run is
 * the 11M × 3, memory where it has 25 clients. A target no run spoke to is listed as
 * not measured, so that a short run cannot look like a pass.
 */
export function targets(results: readonly RunResult[]): { rows: TargetRow[]; notMeasured: string[] } {
  const rows: TargetRow[] = [];
  for (const r of results) {
    rows.push(
      {
        target: "download ≥ 90 % of raw grpc-js",
        run: runLabel(r),
        verdict: transferVerdict(r.summary.downloadBytesPerSec, r.raw.downloadBytesPerSec),
      },
      {
        target: "upload ≥ 90 % of raw grpc-js",
        run: runLabel(r),
        verdict: transferVerdict(r.summary.uploadBytesPerSec, r.raw.uploadBytesPerSec),
      },
    );
    if (r.config.parameters === OVERHEAD_AT.parameters && r.config.clients === OVERHEAD_AT.clients)
      rows.push({
        target: "all but training < 5 % of a round",
        run: runLabel(r),
        verdict: overheadVerdict(r.summary),
      });
    if (r.config.clients === MEMORY_AT_CLIENTS)
      rows.push({
        target: "coordinator peak ≤ 3 × model + 200 MiB",
        run: runLabel(r),
        verdict: memoryVerdict(r.coordinatorPeakRssBytes, r.modelBytes),
      });
  }
  const notMeasured = [
    ...(rows.some((t) => t.target.startsWith("all but"))
      ? []
      : [`overhead: no run at 11M parameters × 3 clients`]),
    ...(rows.some((t) => t.target.startsWith("coordinator")) ? [] : [`memory: no run with 25 clients`]),
  ];
  return { rows, notMeasured };
}

const ms = (value: number) => (value >= 10_000 ? `${(value / 1000).toFixed(1)}s` : `${value.toFixed(0)}`);

/** The per-phase split of every run (ms unless marked s; medians over sites and rounds). */
export function splitTable(results: readonly RunResult[]): string {
  const header = [
    "run",
    "download",
    "train",
    "seal",
    "upload",
    "open",
    "verify",
    "aggregate",
    "checkpoint",
    "evaluate",
    "round",
    "non-train",
    "↓ /raw",
    "↑ /raw",
    "coord MiB",
    "loop max",
  ];
  const lines = results.map((r) => {
    const s = r.summary;
    return [
      runLabel(r),
      ms(s.downloadMs),
      ms(s.trainingMs),
      ms(s.sealingMs),
      ms(s.uploadMs),
      ms(s.openingMs),
      ms(s.verificationMs),
      ms(s.aggregationMs),
      ms(s.checkpointMs),
      ms(s.evaluationMs),
      ms(s.roundMs),
      `${(s.nonTrainingShare * 100).toFixed(1)}%`,
      (s.downloadBytesPerSec / r.raw.downloadBytesPerSec).toFixed(2),
      (s.uploadBytesPerSec / r.raw.uploadBytesPerSec).toFixed(2),
      (r.coordinatorPeakRssBytes / 2 ** 20).toFixed(0),
      ms(r.coordinatorMaxEventLoopDelayMs),
    ];
  });
  return formatTable(header, lines);
}

export function targetTable(rows: readonly TargetRow[]): string {
  return formatTable(
    ["target", "run", "measured", "met", "detail"],
    rows.map((t) => [
      t.target,
      t.run,
      t.verdict.target === 1 ? `${t.verdict.measured.toFixed(2)} of limit` : t.verdict.measured.toFixed(3),
      t.verdict.met ? "yes" : "NO",
      t.verdict.note,
    ]),
  );
}

export function formatTable(header: readonly string[], lines: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] ?? "").length)));
  const format = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
      .join("  ");
  return [format(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(format)].join("\n");
}
