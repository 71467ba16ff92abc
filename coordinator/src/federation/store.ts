import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type {
  CheckpointRecord,
  EvaluationRecord,
  EvaluationRunRecord,
  EvaluationRunSettled,
  EvaluationRunStart,
  PrivacyLedgerRecord,
  RoundCommit,
  RoundFailure,
  RoundRecord,
  RoundStart,
  StrategyStateRecord,
  UpdateRecord,
} from "../store/records.js";

/**
 * What the federation keeps durably, as ports: the SQLite store and the checkpoint files
 * (coordinator/src/store) implement them. Each part names only the methods it uses.
 */
export interface FederationStore {
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  recordJoin(siteId: string, atMs: number, info: Record<string, unknown>): void;
  /** Version 0; idempotent. */
  recordInitialCheckpoint(checkpoint: CheckpointRecord): void;
  latestCheckpoint(): CheckpointRecord | undefined;
  checkpoint(version: number): CheckpointRecord | undefined;
  /** A phase's starting model and the marker that it was entered, in one transaction. */
  recordPhaseEntry(checkpoint: CheckpointRecord, marker: string): void;
  strategyState(version: number): StrategyStateRecord | undefined;
  /** The differential-privacy ledger committed with the latest round that has one. */
  latestPrivacyLedger(): PrivacyLedgerRecord | undefined;
  /** The highest round with a completed attempt, 0 when none. */
  lastCompletedRound(): number;
  nextAttempt(round: number): number;
  startRound(round: RoundStart): void;
  /** The round, its checkpoint and the optimiser's state, in one transaction. */
  completeRound(round: RoundCommit): void;
  failRound(round: RoundFailure): void;
  listRounds(): RoundRecord[];
  /** Whether this site's upload id is recorded (upload ids are the sites' own, unique per site). */
  hasUpload(siteId: string, uploadId: string): boolean;
  /**
   * Records an update; `within` runs in the same transaction, after the row is written, so the
   * row is kept only if it returns and it runs only if the row could be written.
   */
  recordUpdate(update: UpdateRecord, within?: () => void): void;
  recordEvaluation(evaluation: EvaluationRecord): void;
  listEvaluations(modelVersion?: number): EvaluationRecord[];
  /** One version's reports parsed one at a time: a 500-site version's statistics never all at once. */
  iterateEvaluations(modelVersion: number): Iterable<EvaluationRecord>;
  /** The sites that reported on a version, without parsing their reports. */
  evaluatedSites(modelVersion: number): string[];
  startEvaluation(run: EvaluationRunStart): void;
  settleEvaluation(run: EvaluationRunSettled): void;
  evaluationRun(modelVersion: number): EvaluationRunRecord | undefined;
}

/** Model versions as durable files, named by version and checked against their recorded hash. */
export interface ModelFiles {
  /** Durable once it returns; the record is then committed by the caller. */
  write(
    version: number,
    round: number,
    weights: ModelWeights,
    nowMs: number,
  ): { record: CheckpointRecord; bytes: Uint8Array };
  read(record: CheckpointRecord): { weights: ModelWeights; bytes: Uint8Array };
}
