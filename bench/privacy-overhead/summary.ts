/** Pure summaries and tables of the privacy-overhead benchmark (no I/O). */

import type { DpRun } from "./dp-accuracy.js";

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** One measured round of one federation run, as the secure-aggregation part records it. */
export interface RoundSample {
  readonly round: number;
  /** Round wall time at the coordinator: tasks posted to model committed. */
  readonly roundMs: number;
  /** The longest local "training" of the round (making the delta): subtracted to give non-training time. */
  readonly trainingMs: number;
  readonly nonTrainingMs: number;
  /** From the coordinator's log, after the round's start: the last update (masked or not) accepted… */
  readonly lastUploadMs: number | null;
  /** …and, with secure aggregation, the sum unmasked; the round ends at roundMs with the commit. */
  readonly unmaskedMs: number | null;
  /** Median over sites of the bytes each sent on its connection from task to the end of its part. */
  readonly clientSentBytes: number;
  readonly clientReceivedBytes: number;
}

export interface FederationSample {
  readonly mode: "plain" | "secagg";
  readonly n: number;
  readonly parameters: number;
  readonly repetition: number;
  readonly rounds: readonly RoundSample[];
  /** The coordinator process's peak resident set (getrusage), and its RSS once listening. */
  readonly coordinatorPeakRssMiB: number;
  readonly coordinatorStartRssMiB: number;
  /** The plain upload alone: the float32 delta of the shared tensors. */
  readonly deltaBytes: number;
}

export interface OverheadRow {
  readonly n: number;
  readonly parameters: number;
  readonly runs: { readonly plain: number; readonly secagg: number };
  readonly plain: ModeSummary;
  readonly secagg: ModeSummary;
  readonly ratio: { readonly clientSentBytes: number; readonly nonTrainingMs: number };
}

export interface ModeSummary {
  readonly nonTrainingMs: number;
  readonly roundMs: number;
  readonly lastUploadMs: number | null;
  readonly unmaskedMs: number | null;
  readonly clientSentBytes: number;
  readonly clientReceivedBytes: number;
  readonly coordinatorPeakRssMiB: number;
  /** Peak less the RSS once listening: what the rounds themselves added. */
  readonly coordinatorRoundsRssMiB: number;
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : median(known);
}

function summariseMode(samples: readonly FederationSample[]): ModeSummary {
  const rounds = samples.flatMap((s) => s.rounds);
  return {
    nonTrainingMs: median(rounds.map((r) => r.nonTrainingMs)),
    roundMs: median(rounds.map((r) => r.roundMs)),
    lastUploadMs: medianOrNull(rounds.map((r) => r.lastUploadMs)),
    unmaskedMs: medianOrNull(rounds.map((r) => r.unmaskedMs)),
    clientSentBytes: median(rounds.map((r) => r.clientSentBytes)),
    clientReceivedBytes: median(rounds.map((r) => r.clientReceivedBytes)),
    coordinatorPeakRssMiB: median(samples.map((s) => s.coordinatorPeakRssMiB)),
    coordinatorRoundsRssMiB: median(samples.map((s) => s.coordinatorPeakRssMiB - s.coordinatorStartRssMiB)),
  };
}

/** Medians per (n, parameters) over every round of every repetition, and secagg / plain ratios. */
export function summariseOverhead(samples: readonly FederationSample[]): OverheadRow[] {
  const keys = [...new Set(samples.map((s) => `${s.n}/${s.parameters}`))];
  return keys.map((key) => {
    const group = samples.filter((s) => `${s.n}/${s.parameters}` === key);
    const first = group[0] as FederationSample;
    const plainRuns = group.filter((s) => s.mode === "plain");
    const secaggRuns = group.filter((s) => s.mode === "secagg");
    const plain = summariseMode(plainRuns);
    const secagg = summariseMode(secaggRuns);
    return {
      n: first.n,
      parameters: first.parameters,
      runs: { plain: plainRuns.length, secagg: secaggRuns.length },
      plain,
      secagg,
      ratio: {
        clientSentBytes: secagg.clientSentBytes / plain.clientSentBytes,
        nonTrainingMs: secagg.nonTrainingMs / plain.nonTrainingMs,
      },
    };
  });
}

export interface DpRow {
  readonly epsilonTarget: number | null;
  readonly seeds: readonly number[];
  readonly macroF1: number;
  readonly accuracy: number;
  readonly majorityMacroF1: number;
  readonly epsilon: number | null;
  readonly noiseMultiplier: number | null;
  /**
   * z·√P/m: the noise's norm on the mean update over the norm of a mean of m updates each at the
   * clip norm, the best the signal can be (clipped updates pointing the same way).
   */
  readonly noiseToSignal: number | null;
}

/** Mean over seeds per ε target (no DP first, then loosest to tightest). */
export function summariseDp(runs: readonly DpRun[]): DpRow[] {
  const targets = [...new Set(runs.map((r) => r.epsilonTarget))].sort(
    (a, b) => (b ?? Number.POSITIVE_INFINITY) - (a ?? Number.POSITIVE_INFINITY),
  );
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return targets.map((target) => {
    const group = runs.filter((r) => r.epsilonTarget === target);
    const z = group[0]?.noiseMultiplier ?? null;
    const first = group[0] as DpRun;
    return {
      epsilonTarget: target,
      seeds: group.map((r) => r.seed),
      macroF1: mean(group.map((r) => r.macroF1)),
      accuracy: mean(group.map((r) => r.accuracy)),
      majorityMacroF1: mean(group.map((r) => r.majorityMacroF1)),
      epsilon: target === null ? null : mean(group.map((r) => r.epsilon ?? Number.NaN)),
      noiseMultiplier: z,
      noiseToSignal: z === null ? null : (z * Math.sqrt(first.parameters)) / first.cohort,
    };
  });
}

const fmt = (v: number | null, digits = 2) => (v === null || !Number.isFinite(v) ? "–" : v.toFixed(digits));
const kib = (bytes: number) => (bytes / 1024).toFixed(1);

export function overheadTable(rows: readonly OverheadRow[]): string {
  const head =
    "| n | parameters | runs plain/secagg | non-training ms plain | secagg | ratio | client sent KiB plain | secagg | ratio | client received KiB plain | secagg | coordinator peak RSS MiB plain | secagg | coordinator RSS added by rounds MiB plain | secagg |";
  const rule = `|${"---|".repeat(15)}`;
  const lines = rows.map(
    (r) =>
      `| ${r.n} | ${r.parameters.toLocaleString("en")} | ${r.runs.plain}/${r.runs.secagg} | ${fmt(r.plain.nonTrainingMs, 0)} | ${fmt(r.secagg.nonTrainingMs, 0)} | ${fmt(r.ratio.nonTrainingMs)}× | ${kib(r.plain.clientSentBytes)} | ${kib(r.secagg.clientSentBytes)} | ${fmt(r.ratio.clientSentBytes, 3)}× | ${kib(r.plain.clientReceivedBytes)} | ${kib(r.secagg.clientReceivedBytes)} | ${fmt(r.plain.coordinatorPeakRssMiB, 0)} | ${fmt(r.secagg.coordinatorPeakRssMiB, 0)} | ${fmt(r.plain.coordinatorRoundsRssMiB, 0)} | ${fmt(r.secagg.coordinatorRoundsRssMiB, 0)} |`,
  );
  return [head, rule, ...lines].join("\n");
}

/** Where the round's time goes, from the coordinator's log (ms after the round's tasks were posted). */
export function phaseTable(rows: readonly OverheadRow[]): string {
  const head =
    "| n | parameters | plain: last update accepted | plain: committed | secagg: last masked input accepted | secagg: sum unmasked | secagg: committed |";
  const rule = `|${"---|".repeat(7)}`;
  const lines = rows.map(
    (r) =>
      `| ${r.n} | ${r.parameters.toLocaleString("en")} | ${fmt(r.plain.lastUploadMs, 0)} | ${fmt(r.plain.roundMs, 0)} | ${fmt(r.secagg.lastUploadMs, 0)} | ${fmt(r.secagg.unmaskedMs, 0)} | ${fmt(r.secagg.roundMs, 0)} |`,
  );
  return [head, rule, ...lines].join("\n");
}

export function dpTable(rows: readonly DpRow[]): string {
  const head =
    "| DP | seeds | macro-F1 | accuracy | majority-class macro-F1 | ε reached (δ 1e-5) | noise multiplier z | z·√P/m |";
  const rule = `|${"---|".repeat(8)}`;
  const lines = rows.map(
    (r) =>
      `| ${r.epsilonTarget === null ? "none" : `ε = ${r.epsilonTarget}`} | ${r.seeds.join(", ")} | ${fmt(r.macroF1, 3)} | ${fmt(r.accuracy, 3)} | ${fmt(r.majorityMacroF1, 3)} | ${fmt(r.epsilon)} | ${fmt(r.noiseMultiplier)} | ${fmt(r.noiseToSignal, 0)} |`,
  );
  return [head, rule, ...lines].join("\n");
}
