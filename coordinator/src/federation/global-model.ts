import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ModelBlob } from "../../../shared/src/fl/messages.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { CheckpointRecord } from "../store/records.js";
import type { FederationStore, ModelFiles } from "./store.js";

interface Version {
  readonly version: number;
  readonly weights: ModelWeights;
  readonly bytes: Uint8Array;
  readonly sha256: string;
}

/** A committed model version as tasks name it. */
export interface ModelRef {
  readonly version: number;
  readonly sha256: string;
  readonly byteLength: number;
}

/** A model version written to disk but not yet committed: adopt it once the database has it. */
export interface PreparedVersion {
  readonly record: CheckpointRecord;
  adopt(): void;
}

/**
 * The current global model: its version, weights and serialised bytes, and older versions from
 * their checkpoints. A new version becomes current only after its checkpoint is committed, so
 * what clients download always matches the database.
 */
export class GlobalModel {
  private loaded: Version | undefined;

  constructor(
    private readonly store: Pick<
      FederationStore,
      "latestCheckpoint" | "checkpoint" | "recordInitialCheckpoint"
    >,
    private readonly checkpoints: ModelFiles,
  ) {}

  get version(): number {
    return this.current.version;
  }

  get weights(): ModelWeights {
    return this.current.weights;
  }

  get sha256(): string {
    return this.current.sha256;
  }

  get byteLength(): number {
    return this.current.bytes.length;
  }

  private get current(): Version {
    if (!this.loaded)
      throw new FlError(ErrorCode.FailedPrecondition, "the coordinator has not loaded its model yet");
    return this.loaded;
  }

  /** Loads the last committed version (hash-checked); false when there is none yet. */
  resume(): boolean {
    const latest = this.store.latestCheckpoint();
    if (!latest) return false;
    const { weights, bytes } = this.checkpoints.read(latest);
    this.loaded = { version: latest.version, weights, bytes, sha256: latest.sha256 };
    return true;
  }

  /** Commits version 0. */
  initialise(weights: ModelWeights, nowMs: number): void {
    const prepared = this.prepare(0, 0, weights, nowMs);
    this.store.recordInitialCheckpoint(prepared.record);
    prepared.adopt();
  }

  /** Writes the checkpoint file of a version; the caller commits its record, then adopts it. */
  prepare(version: number, round: number, weights: ModelWeights, nowMs: number): PreparedVersion {
    const { record, bytes } = this.checkpoints.write(version, round, weights, nowMs);
    return {
      record,
      adopt: () => {
        this.loaded = { version, weights, bytes, sha256: record.sha256 };
      },
    };
  }

  /** What a task names of a version (the current one, or a committed checkpoint), without its bytes. */
  describe(version: number): ModelRef {
    if (version === this.current.version)
      return { version, sha256: this.current.sha256, byteLength: this.current.bytes.length };
    const record = this.existing(version);
    return { version, sha256: record.sha256, byteLength: record.bytes };
  }

  /** The bytes of a version: the current one, or a committed checkpoint. */
  blob(version: number): ModelBlob {
    if (version === this.current.version) return { bytes: this.current.bytes, sha256: this.current.sha256 };
    const record = this.existing(version);
    return { bytes: this.checkpoints.read(record).bytes, sha256: record.sha256 };
  }

  /** The weights of a version: the current one, or a committed checkpoint (hash-checked). */
  weightsOf(version: number): ModelWeights {
    if (version === this.current.version) return this.current.weights;
    return this.checkpoints.read(this.existing(version)).weights;
  }

  private existing(version: number): CheckpointRecord {
    const record = this.store.checkpoint(version);
    if (!record)
      throw new FlError(
        ErrorCode.NotFound,
        `model version ${version} does not exist (current is v${this.current.version})`,
      );
    return record;
  }
}
