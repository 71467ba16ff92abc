/**
 * The pure arithmetic of the federation benchmark: a round's time split into its phases, transfer
 * throughput from time intervals, and the targets as verdicts. No I/O, so that the unit
 * tests pin down every figure the table prints.
 */

/** A span of wall-clock time, in ms since the epoch (performance.timeOrigin + performance.now()). */
export interface Interval {
  readonly startMs: number;
  readonly endMs: number;
}

/** What one scripted site measured of one training round. */
export interface SiteRound {
  readonly siteId: string;
  readonly round: number;
  readonly download: Interval;
  readonly downloadBytes: number;
  readonly trainingMs: number;
  /** sealUpdate's wall time: serialise in this thread, hash and encrypt in the sealing worker, sign. */
  readonly sealingMs: number;
  /** The upload call, from the header to the coordinator's verdict. */
  readonly upload: Interval;
  readonly uploadBytes: number;
  /** The evaluation report that follows the round (absent when the plan evaluates no version). */
  readonly evaluationReportMs?: number;
}

/** What the coordinator measured of one training round (sums over the round's uploads). */
export interface CoordinatorRound {
  readonly round: number;
  readonly startedAtMs: number;
  /** When the round's commit returned. */
  readonly committedAtMs: number;
  /** Decrypting chunks as they arrive (UploadSink.addChunk). */
  readonly openingMs: number;
  /** Hash, layout, finiteness and the coordinator stages (UploadSink.finish less the fold). */
  readonly verificationMs: number;
  /** Folding updates into the aggregate, the aggregate and the server step. */
  readonly aggregationMs: number;
  /** The checkpoint file, and the SQLite transaction that commits it with the round. */
  readonly checkpointMs: number;
  /** From the evaluation's start to its settling; 0 when the plan evaluates no version. */
  readonly evaluationMs: number;
}

/** The phases of one round, in ms; client phases are the median over the round's sites. */
export interface RoundSplit {
  readonly round: number;
  readonly downloadMs: number;
  readonly trainingMs: number;
  readonly sealingMs: number;
  readonly uploadMs: number;
  readonly openingMs: number;
  readonly verificationMs: number;
  readonly aggregationMs: number;
  readonly checkpointMs: number;
  readonly evaluationMs: number;
  /** Round start to commit, plus the evaluation: what a federation waits for per round. */
  readonly roundMs: number;
  /** roundMs less the longest site's training. */
  readonly nonTrainingMs: number;
  readonly nonTrainingShare: number;
  /** Aggregate throughput of the round's transfers, bytes per second (see throughput()). */
  readonly downloadBytesPerSec: number;
  readonly uploadBytesPerSec: number;
}

export const SPLIT_FIELDS = [
  "downloadMs",
  "trainingMs",
  "sealingMs",
  "uploadMs",
  "openingMs",
  "verificationMs",
  "aggregationMs",
  "checkpointMs",
  "evaluationMs",
  "roundMs",
  "nonTrainingMs",
  "nonTrainingShare",
  "downloadBytesPerSec",
  "uploadBytesPerSec",
] as const satisfies readonly (keyof RoundSplit)[];

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** How long at least one of the intervals was open: overlapping transfers are counted once. */
export function unionMs(intervals: readonly Interval[]): number {
  const sorted = [...intervals].sort((a, b) => a.startMs - b.startMs);
  let total = 0;
  let open: { startMs: number; endMs: number } | undefined;
  for (const { startMs, endMs } of sorted) {
    if (endMs < startMs) throw new Error(`interval ends (${endMs}) before it starts (${startMs})`);
    if (open && startMs <= open.endMs) open.endMs = Math.max(open.endMs, endMs);
    else {
      if (open) total += open.endMs - open.startMs;
      open = { startMs, endMs };
    }
  }
  return open ? total + open.endMs - open.startMs : total;
}

/**
 * Bytes per second moved while any of the transfers was in flight. Sites that transfer at the
 * same time share the link and the coordinator's cores, as the raw grpc-js streams of the
 * comparison do; sites that transfer one after another each have them alone.
 */
export function throughput(
  transfers: readonly { readonly interval: Interval; readonly bytes: number }[],
): number {
  const ms = unionMs(transfers.map((t) => t.interval));
  if (ms <= 0) throw new Error("transfers took no measurable time");
  return (transfers.reduce((sum, t) => sum + t.bytes, 0) / ms) * 1000;
}

/** One round's split, from the coordinator's view of it and the sites' own measurements. */
export function splitRound(coordinator: CoordinatorRound, sites: readonly SiteRound[]): RoundSplit {
  if (sites.length === 0) throw new Error(`round ${coordinator.round}: no site measured it`);
  const wrong = sites.find((s) => s.round !== coordinator.round);
  if (wrong) throw new Error(`site ${wrong.siteId} measured round ${wrong.round}, not ${coordinator.round}`);
  const duration = (i: Interval) => i.endMs - i.startMs;
  const roundMs = coordinator.committedAtMs - coordinator.startedAtMs + coordinator.evaluationMs;
  const trainingMs = Math.max(...sites.map((s) => s.trainingMs));
  const nonTrainingMs = roundMs - trainingMs;
  return {
    round: coordinator.round,
    downloadMs: median(sites.map((s) => duration(s.download))),
    trainingMs,
    sealingMs: median(sites.map((s) => s.sealingMs)),
    uploadMs: median(sites.map((s) => duration(s.upload))),
    openingMs: coordinator.openingMs,
    verificationMs: coordinator.verificationMs,
    aggregationMs: coordinator.aggregationMs,
    checkpointMs: coordinator.checkpointMs,
    evaluationMs: coordinator.evaluationMs,
    roundMs,
    nonTrainingMs,
    nonTrainingShare: roundMs > 0 ? nonTrainingMs / roundMs : 0,
    downloadBytesPerSec: throughput(sites.map((s) => ({ interval: s.download, bytes: s.downloadBytes }))),
    uploadBytesPerSec: throughput(sites.map((s) => ({ interval: s.upload, bytes: s.uploadBytes }))),
  };
}

/**
 * The rounds of a run summarised field by field (median). The first round is left out when there
 * are more: it also pays for starting the sealing worker and for the JIT.
 */
export function summariseRounds(rounds: readonly RoundSplit[]): RoundSplit {
  const kept = rounds.length > 1 ? rounds.slice(1) : rounds;
  if (kept.length === 0) throw new Error("no rounds to summarise");
  const out: Record<string, number> = { round: kept.length };
  for (const field of SPLIT_FIELDS) out[field] = median(kept.map((r) => r[field]));
  return out as unknown as RoundSplit;
}

/** The share of a round everything but training may take at 11M parameters and 3 clients. */
export const OVERHEAD_TARGET = 0.05;
/** Model transfer's throughput against raw grpc-js streaming of the same bytes. */
export const TRANSFER_TARGET = 0.9;
export const MEMORY_HEADROOM_MIB = 200;
export const MEMORY_MODEL_FACTOR = 3;

/**
 * The training time a round needs for its fixed costs to be at most `target` of it: the overhead
 * share depends on how long the sites train, so the benchmark states the break-even point.
 */
export function breakEvenTrainingMs(nonTrainingMs: number, target = OVERHEAD_TARGET): number {
  return (nonTrainingMs * (1 - target)) / target;
}

export interface Verdict {
  readonly met: boolean;
  readonly measured: number;
  readonly target: number;
  readonly note: string;
}

export function transferVerdict(federationBytesPerSec: number, rawBytesPerSec: number): Verdict {
  const measured = federationBytesPerSec / rawBytesPerSec;
  return {
    met: measured >= TRANSFER_TARGET,
    measured,
    target: TRANSFER_TARGET,
    note: `${mib(federationBytesPerSec)} MiB/s against raw grpc-js ${mib(rawBytesPerSec)} MiB/s`,
  };
}

export function overheadVerdict(
  split: Pick<RoundSplit, "nonTrainingMs" | "roundMs" | "trainingMs">,
): Verdict {
  const measured = split.roundMs > 0 ? split.nonTrainingMs / split.roundMs : 0;
  const needed = breakEvenTrainingMs(split.nonTrainingMs);
  return {
    met: measured < OVERHEAD_TARGET,
    measured,
    target: OVERHEAD_TARGET,
    note: `${(split.nonTrainingMs / 1000).toFixed(2)} s besides ${(split.trainingMs / 1000).toFixed(2)} s of training; under 5 % once training takes ≥ ${(needed / 1000).toFixed(1)} s per round`,
  };
}

/** Peak resident memory against 3 × the model's bytes + 200 MiB. */
export function memoryVerdict(peakRssBytes: number, modelBytes: number): Verdict {
  const limit = MEMORY_MODEL_FACTOR * modelBytes + MEMORY_HEADROOM_MIB * 2 ** 20;
  return {
    met: peakRssBytes <= limit,
    measured: peakRssBytes / limit,
    target: 1,
    note: `${mib(peakRssBytes)} MiB peak against ${mib(limit)} MiB (3 × ${mib(modelBytes)} MiB + 200 MiB)`,
  };
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}
