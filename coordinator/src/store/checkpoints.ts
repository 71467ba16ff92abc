import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { writeFileAtomic } from "../../../shared/src/io/atomic-file.js";
import { deserializeWeights, serializeWeights, sha256Hex } from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { ModelFiles } from "../federation/store.js";
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
    writeFileAtomic(path, bytes);
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
        `checkpoint v${record.version} is missing at ${record.path}; restore the state directory from backup`,
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
