import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { deserialize, serialize } from "node:v8";
import { ErrorCode, errorMessage, FlError } from "../../../shared/src/errors.js";
import type { TaskKindName } from "../../../shared/src/fl/task-kinds.js";
import { writeFileAtomic } from "../../../shared/src/io/atomic-file.js";
import {
  exportMocoState,
  importMocoState,
  type MocoCheckpoint,
  releaseMocoState,
} from "../training/tasks/moco.js";
import type { TrainerSite } from "../training/tasks/task-trainer.js";

/** Bumped when the file's layout changes: an older file is refused, not misread. */
const FORMAT = 1;

interface SiteStateFile {
  readonly format: number;
  readonly moco?: MocoCheckpoint;
}

/**
 * The kinds whose trainer keeps state between rounds. Every other trainer starts each round from
 * the task's weights alone (FedBN statistics and other local tensors travel with the task), so
 * MoCo's key network and queue are all a hospital's trainer would lose.
 */
const STATEFUL_KINDS: ReadonlySet<TaskKindName> = new Set(["moco"]);

/**
 * Each virtual hospital's trainer state on disk, one file a site, so that a site a worker pushed
 * out, or one the pool sends to another worker, continues exactly where its last round left it.
 * Written after every round that changes it, not only on eviction: a site may train on another
 * worker while the first still holds it loaded, and a stamp of the file (a new inode at each
 * atomic rename) tells a worker that its copy is stale.
 */
export class SiteStateFiles {
  private readonly seen = new Map<string, string>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Brings the site's trainer state up to its file, if another worker (or an earlier load) wrote a newer one. */
  refresh(siteId: string, site: TrainerSite): void {
    const path = this.pathOf(siteId);
    const stamp = stampOf(path);
    if (stamp === undefined || stamp === this.seen.get(siteId)) return;
    const state = readState(path, siteId);
    if (state.moco) importMocoState(site, state.moco);
    this.seen.set(siteId, stamp);
  }

  /** Writes the site's state after a round of `kind`, when that kind keeps any. */
  save(siteId: string, site: TrainerSite, kind: TaskKindName): void {
    if (!STATEFUL_KINDS.has(kind)) return;
    const moco = exportMocoState(site);
    if (!moco) return;
    const path = this.pathOf(siteId);
    const state: SiteStateFile = { format: FORMAT, moco };
    writeFileAtomic(path, serialize(state));
    this.seen.set(siteId, stampOf(path) ?? "");
  }

  /** Frees what the site's trainers hold in memory; its file stays for the next load. */
  release(siteId: string, site: TrainerSite): void {
    releaseMocoState(site);
    this.seen.delete(siteId);
  }

  private pathOf(siteId: string): string {
    return join(this.dir, `${siteId}.v8`);
  }
}

function stampOf(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const stat = statSync(path, { bigint: true });
  return `${stat.ino}:${stat.mtimeNs}:${stat.size}`;
}

function readState(path: string, siteId: string): SiteStateFile {
  let state: unknown;
  try {
    state = deserialize(readFileSync(path));
  } catch (error) {
    throw unreadable(path, siteId, errorMessage(error));
  }
  const format = (state as { format?: unknown } | null)?.format;
  if (format !== FORMAT) throw unreadable(path, siteId, `format ${String(format)}, expected ${FORMAT}`);
  return state as SiteStateFile;
}

function unreadable(path: string, siteId: string, why: string): FlError {
  return new FlError(
    ErrorCode.DataError,
    `the trainer state of virtual hospital ${siteId} (${path}) cannot be read: ${why}; delete the file to start its MoCo key network and queue afresh`,
  );
}
