import type { UpdateManifest } from "../../../shared/src/crypto/index.js";
import type { EvaluationStatistics } from "../../../shared/src/metrics/evaluation-statistics.js";
/**
 * The records of the coordinator's durable state, as the store hands them out and the rest of
 * the coordinator reads them. Plain data, so that pure code can name them without the database.
 */

export type RoundStatus = "running" | "completed" | "failed" | "aborted";

export interface RoundRecord {
  readonly round: number;
  readonly attempt: number;
  readonly phase: string;
  readonly status: RoundStatus;
  readonly modelVersionIn: number;
  readonly modelVersionOut: number | null;
  readonly sampled: string[];
  readonly acceptedCount: number;
  readonly failures: Array<{ siteId: string; reason: string }>;
  readonly metrics: Record<string, number>;
  readonly startedAtMs: number;
  readonly endedAtMs: number | null;
}

export interface CheckpointRecord {
  readonly version: number;
  readonly round: number;
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly createdAtMs: number;
}

export interface SiteRecord {
  readonly siteId: string;
  readonly signingPublicKey: string;
  readonly encryptionPublicKey: string;
  readonly lastJoinedAtMs: number | null;
  readonly info: Record<string, unknown> | null;
}

export interface UpdateRecord {
  /** The site's own id for this upload: unique per site, not across sites. */
  readonly uploadId: string;
  readonly round: number;
  readonly attempt: number;
  readonly siteId: string;
  readonly taskId: string;
  readonly modelVersion: number;
  readonly contentSha256: string;
  readonly numExamples: number;
  readonly plaintextBytes: number;
  readonly status: "accepted" | "rejected";
  readonly reason: string | null;
  readonly trainMetrics: Record<string, number>;
  readonly receivedAtMs: number;
  /**
   * The manifest as the site signed it and its Ed25519 signature: anyone holding the site's
   * public key can check later that the site sent exactly this update, and the coordinator
   * cannot forge one. Null only for rows written before schema v2.
   */
  readonly signed: SignedManifest | null;
}

export interface SignedManifest {
  readonly manifest: UpdateManifest;
  readonly signature: Uint8Array;
}

export interface EvaluationRecord {
  readonly round: number;
  readonly modelVersion: number;
  readonly siteId: string;
  readonly split: string;
  readonly numExamples: number;
  readonly confusion: number[][];
  readonly metrics: Record<string, number>;
  /** The site's score histograms and sums; absent from older clients and rows before schema v4. */
  readonly statistics?: EvaluationStatistics;
  readonly receivedAtMs: number;
}

/**
 * The evaluation of one model version: the sites it was sent to, and once each of them has
 * reported or failed its task, when it settled and who failed. Unsettled after a crash, which
 * is what makes a resumed coordinator evaluate that version again.
 */
export interface EvaluationRunRecord {
  readonly modelVersion: number;
  readonly round: number;
  readonly expected: string[];
  readonly failures: TaskFailureRecord[];
  readonly startedAtMs: number;
  readonly settledAtMs: number | null;
}

export interface EvaluationRunStart {
  readonly modelVersion: number;
  readonly round: number;
  readonly expected: readonly string[];
  readonly startedAtMs: number;
}

export interface EvaluationRunSettled {
  readonly modelVersion: number;
  readonly failures: readonly TaskFailureRecord[];
  readonly settledAtMs: number;
}

/** A round attempt as it starts. */
export interface RoundStart {
  readonly round: number;
  readonly attempt: number;
  readonly phase: string;
  readonly modelVersionIn: number;
  readonly sampled: readonly string[];
  readonly startedAtMs: number;
}

/** A round attempt that produced a model version. */
export interface RoundCommit {
  readonly round: number;
  readonly attempt: number;
  readonly acceptedCount: number;
  readonly failures: readonly TaskFailureRecord[];
  readonly metrics: Readonly<Record<string, number>>;
  readonly checkpoint: CheckpointRecord;
  readonly endedAtMs: number;
  /** A server optimiser's state after this round, committed with the model it produced. */
  readonly strategyState?: StrategyStateRecord;
  /** The differential-privacy ledger after this round (accountant, clip norm), when the plan has DP. */
  readonly privacy?: PrivacyLedgerRecord;
}

/** A round attempt that ended without enough updates. */
export interface RoundFailure {
  readonly round: number;
  readonly attempt: number;
  readonly acceptedCount: number;
  readonly failures: readonly TaskFailureRecord[];
  readonly endedAtMs: number;
}

export interface TaskFailureRecord {
  readonly siteId: string;
  readonly reason: string;
}

/** Server optimiser state, tagged with the phase whose shared tensors it is laid out over. */
export interface StrategyStateRecord {
  readonly phase: string;
  readonly state: Uint8Array;
}

/** The DP ledger as committed with a round: its state is the coordinator's own JSON (DpLedgerState). */
export interface PrivacyLedgerRecord {
  readonly round: number;
  readonly state: unknown;
}

/** Meta key of the reason a federation completed before its plan's last round (the privacy budget). */
export const COMPLETED_EARLY_META = "completed_early_reason";
