import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, errorMessage, FlError } from "../../../shared/src/errors.js";
import { writeFileAtomic } from "../../../shared/src/io/atomic-file.js";
import { deserializeWeights, serializeWeights, sha256Hex } from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { ModelFiles } from "../federation/store.js";
import { evaluates } from "../federation/task-specs.js";
import { type Plan, shouldEvaluate, slotOf } from "../plan.js";
import type { CheckpointRecord } from "./records.js";

/** Model checkpoints as files named by version; the database holds their hashes. */
export class CheckpointFiles implements ModelFiles {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  pathOf(version: number): string {
    return join(this.dir, `model-v${String(version).padStart(5, "0")}.flw`);
  }

  /** Writes atomically and returns the record to commit. Rewriting a version is harmless: a
   * crash between writing and committing leaves an orphan file that the next attempt replaces. */
  write(
    version: number,
    round: number,
    weights: ModelWeights,
    nowMs: number,
  ): { record: CheckpointRecord; bytes: Uint8Array } {
    const bytes = serializeWeights(weights);
    const path = this.pathOf(version);
    try {
      writeFileAtomic(path, bytes);
    } catch (error) {
      // Nothing is committed yet and the atomic write left no partial file: the state is as it was.
      throw new FlError(
        ErrorCode.Internal,
        `cannot write checkpoint v${version} (${bytes.length} bytes) to ${path}: ${errorMessage(error)}. ` +
          "Nothing was committed; free space on that disk (or fix its permissions) and start the coordinator " +
          "again: it resumes after the last committed round.",
        { cause: error },
      );
    }
    return {
      record: { version, round, path, sha256: sha256Hex(bytes), bytes: bytes.length, createdAtMs: nowMs },
      bytes,
    };
  }

  /** Reads a checkpoint and verifies it against its recorded hash. */
  read(record: CheckpointRecord): { weights: ModelWeights; bytes: Uint8Array } {
    if (!existsSync(record.path)) {
      throw new FlError(
        ErrorCode.NotFound,
        `checkpoint v${record.version} is missing at ${record.path} (keepCheckpoints removes old versions; ` +
          "the newest is never removed); if it is the newest, restore the state directory from backup",
      );
    }
    const bytes = new Uint8Array(readFileSync(record.path));
    const hash = sha256Hex(bytes);
    if (hash !== record.sha256) {
      throw new FlError(
        ErrorCode.HashMismatch,
        `checkpoint v${record.version} at ${record.path} is corrupt (sha256 ${hash}, recorded ${record.sha256})`,
      );
    }
    return { weights: deserializeWeights(bytes), bytes };
  }
}

/** How many checkpoints to keep besides the ones retention always spares; "all" keeps every one. */
export type CheckpointRetention = "all" | number;

/**
 * Which checkpoints retention removes: all but the newest `keep`, sparing those `spare` names
 * (phase boundaries, versions still to be evaluated). The newest is never removed: resume
 * loads it.
 */
export function checkpointsToRemove(
  records: readonly CheckpointRecord[],
  keep: CheckpointRetention,
  spare: (record: CheckpointRecord) => boolean,
): CheckpointRecord[] {
  if (keep === "all") return [];
  const newestFirst = [...records].sort((a, b) => b.version - a.version);
  return newestFirst.slice(Math.max(1, keep)).filter((record) => !spare(record));
}

/**
 * Applies retention after a commit: the files of the checkpoints {@link checkpointsToRemove}
 * names are deleted; their records (version, round, sha256, size) stay in the database as the
 * audit trail. Returns the versions removed now.
 */
export function pruneCheckpoints(options: {
  readonly records: readonly CheckpointRecord[];
  readonly keep: CheckpointRetention;
  readonly spare: (record: CheckpointRecord) => boolean;
}): number[] {
  const removed: number[] = [];
  for (const record of checkpointsToRemove(options.records, options.keep, options.spare)) {
    if (!existsSync(record.path)) continue;
    rmSync(record.path, { force: true });
    removed.push(record.version);
  }
  return removed;
}

/**
 * What retention spares whatever `keep` is: the initial model and every phase boundary (the
 * model a phase ends with, and the one the next phase starts from, which carries the same
 * round), and any version whose due evaluation is not recorded yet (a resumed coordinator still
 * evaluates it).
 */
export function sparedByPlan(
  plan: Plan,
  evaluated: (version: number) => boolean,
): (record: CheckpointRecord) => boolean {
  const boundaries = new Set<number>([0]);
  let end = 0;
  for (const phase of plan.phases) {
    end += phase.rounds;
    boundaries.add(end);
  }
  return (record) =>
    boundaries.has(record.round) ||
    (shouldEvaluate(plan, record.round) &&
      evaluates(slotOf(plan, record.round).phase) &&
      !evaluated(record.version));
}
