import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { type BenchFingerprint, fingerprintDrift, type RunFingerprint } from "./fingerprint.js";

/** The benchmark folder's settings; each run folder has its own in RUN_FILE. */
export const BENCH_FILE = "bench.json";
export const RUN_FILE = "bench-run.json";
/** What the benchmark writes into its folder, and so what `--fresh` removes (nothing else). */
const OUTPUTS = ["runs", "runs.log", BENCH_FILE, "results.json", "table.md", "macro-f1.svg", "findings.svg"];

/** A run folder's record: the settings it was started with and, once it completed, how long it took. */
export interface RunRecord {
  readonly fingerprint: RunFingerprint;
  readonly seconds?: number;
}

function readJson(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    // A torn or edited file is as untrustworthy as a missing one; the drift says "no settings".
    return undefined;
  }
}

/** Something in the folder besides what a fresh start would make: results of some earlier start. */
function hasEarlierResults(dir: string): boolean {
  return existsSync(join(dir, "runs")) || existsSync(join(dir, "results.json"));
}

/** The differences between a folder's settings and these; empty when it is new or they match. */
export function folderDrift(dir: string, fingerprint: BenchFingerprint): string[] {
  const stored = readJson(join(dir, BENCH_FILE));
  if (stored === undefined && !hasEarlierResults(dir)) return [];
  return fingerprintDrift(stored, fingerprint);
}

export function mismatchError(what: string, drift: readonly string[]): FlError {
  return new FlError(
    ErrorCode.InvalidConfig,
    `${what} holds results computed with other settings; they differ in:\n${drift.map((d) => `  ${d}`).join("\n")}\nits results are not reused. Either give another folder (--out DIR) or discard them and start again (--fresh)`,
  );
}

/**
 * The folder for this benchmark. An explicit one is used as it is: with other settings it is
 * refused (or emptied with `fresh`). The default, dated one moves on to `<default>-2`, `-3`, …
 * until it finds a folder with the same settings (an interrupted run resumes) or a new one.
 */
export function chooseFolder(options: {
  readonly out: string;
  readonly explicit: boolean;
  readonly fresh: boolean;
  readonly fingerprint: BenchFingerprint;
}): { dir: string; drift: readonly string[] } {
  const { out, explicit, fresh, fingerprint } = options;
  if (fresh) {
    for (const name of OUTPUTS) rmSync(join(out, name), { recursive: true, force: true });
    return { dir: out, drift: [] };
  }
  if (explicit) {
    const drift = folderDrift(out, fingerprint);
    if (drift.length > 0) throw mismatchError(out, drift);
    return { dir: out, drift };
  }
  for (let i = 1; ; i++) {
    const dir = i === 1 ? out : `${out}-${i}`;
    if (folderDrift(dir, fingerprint).length === 0)
      return { dir, drift: i === 1 ? [] : folderDrift(out, fingerprint) };
  }
}

export function writeBenchFingerprint(dir: string, fingerprint: BenchFingerprint): void {
  writeFileAtomic(join(dir, BENCH_FILE), `${JSON.stringify(fingerprint, null, 2)}\n`);
}

/** The differences between a run folder's recorded settings and these; empty for a new folder. */
export function runDrift(runDir: string, fingerprint: RunFingerprint): string[] {
  if (!existsSync(runDir) || readdirSync(runDir).length === 0) return [];
  const record = readJson(join(runDir, RUN_FILE)) as Partial<RunRecord> | undefined;
  return fingerprintDrift(record?.fingerprint, fingerprint);
}

export function readRunRecord(runDir: string): Partial<RunRecord> | undefined {
  return readJson(join(runDir, RUN_FILE)) as Partial<RunRecord> | undefined;
}

export function writeRunRecord(runDir: string, record: RunRecord): void {
  writeFileAtomic(join(runDir, RUN_FILE), `${JSON.stringify(record, null, 2)}\n`);
}
