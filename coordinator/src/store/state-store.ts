import Database from "better-sqlite3";
import type { UpdateManifest } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { EvaluationStatistics } from "../../../shared/src/metrics/evaluation-statistics.js";
import type { FederationStore } from "../federation/store.js";
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
  RoundStatus,
  SiteRecord,
  StrategyStateRecord,
  TaskFailureRecord,
  UpdateRecord,
} from "./records.js";

/**
 * The coordinator's durable state in SQLite. The one rule that makes kill-and-resume safe: a
 * round's result (new model version, checkpoint, metrics) is committed in ONE transaction, after
 * the checkpoint file is already on disk. Anything of a round that was running when the process
 * died is marked aborted on open and the round runs again from the last committed version.
 */

/**
 * v2 added the signed manifest of each update (`manifest_json`, `signature`). v3 keys updates by
 * a row id of the coordinator's own: an upload id is only the site's name for its upload, unique
 * per site, so one site's id can never block or overwrite another site's row. v4 keeps each
 * evaluation's statistics (`statistics_json`: score histograms, calibration bins, bootstrap
 * replicates); rows from before stay without (NULL). v5 adds `privacy_ledger`: the differential-
 * privacy accountant's state after each committed round, so a restarted coordinator resumes the
 * spent ε rather than starting from zero.
 */
const SCHEMA_VERSION = 5;

const PRIVACY_LEDGER_TABLE = `
CREATE TABLE IF NOT EXISTS privacy_ledger (
  round INTEGER PRIMARY KEY,
  state_json TEXT NOT NULL
);
`;

const UPDATES_TABLE = `
CREATE TABLE IF NOT EXISTS updates (
  id INTEGER PRIMARY KEY,
  upload_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  model_version INTEGER NOT NULL,
  content_sha256 TEXT NOT NULL,
  num_examples INTEGER NOT NULL,
  plaintext_bytes INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('accepted','rejected')),
  reason TEXT,
  train_metrics_json TEXT NOT NULL DEFAULT '{}',
  received_at_ms INTEGER NOT NULL,
  manifest_json TEXT,
  signature BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS updates_by_site_upload ON updates(site_id, upload_id);
CREATE INDEX IF NOT EXISTS updates_by_round ON updates(round, attempt);
`;

const UPDATE_COLUMNS =
  "upload_id, round, attempt, site_id, task_id, model_version, content_sha256, num_examples, " +
  "plaintext_bytes, status, reason, train_metrics_json, received_at_ms, manifest_json, signature";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sites (
  site_id TEXT PRIMARY KEY,
  signing_public_key TEXT NOT NULL,
  encryption_public_key TEXT NOT NULL,
  last_joined_at_ms INTEGER,
  info_json TEXT
);
CREATE TABLE IF NOT EXISTS rounds (
  round INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  phase TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running','completed','failed','aborted')),
  model_version_in INTEGER NOT NULL,
  model_version_out INTEGER,
  sampled_json TEXT NOT NULL,
  accepted_count INTEGER NOT NULL DEFAULT 0,
  failures_json TEXT NOT NULL DEFAULT '[]',
  metrics_json TEXT NOT NULL DEFAULT '{}',
  started_at_ms INTEGER NOT NULL,
  ended_at_ms INTEGER,
  PRIMARY KEY (round, attempt)
);
CREATE UNIQUE INDEX IF NOT EXISTS one_completed_attempt ON rounds(round) WHERE status = 'completed';
CREATE TABLE IF NOT EXISTS checkpoints (
  version INTEGER PRIMARY KEY,
  round INTEGER NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  strategy_phase TEXT,
  strategy_state BLOB
);
CREATE TABLE IF NOT EXISTS evaluations (
  round INTEGER NOT NULL,
  model_version INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  split TEXT NOT NULL,
  num_examples INTEGER NOT NULL,
  confusion_json TEXT NOT NULL,
  metrics_json TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL,
  statistics_json TEXT,
  PRIMARY KEY (model_version, site_id, split)
);
CREATE TABLE IF NOT EXISTS evaluation_runs (
  model_version INTEGER PRIMARY KEY,
  round INTEGER NOT NULL,
  expected_json TEXT NOT NULL,
  failures_json TEXT NOT NULL DEFAULT '[]',
  started_at_ms INTEGER NOT NULL,
  settled_at_ms INTEGER
);
`;

export class StateStore implements FederationStore {
  private readonly db: Database.Database;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  /** Opens (creating if needed) the state database and aborts rounds left running by a crash. */
  static open(path: string, options: { federationId: string; now?: () => number }): StateStore {
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    const store = new StateStore(db);
    // Upgrades run first: the current tables and indexes are then created over the upgraded ones.
    store.checkIdentity(options.federationId);
    db.exec(SCHEMA);
    db.exec(UPDATES_TABLE);
    db.exec(PRIVACY_LEDGER_TABLE);
    const now = (options.now ?? Date.now)();
    db.prepare("UPDATE rounds SET status = 'aborted', ended_at_ms = ? WHERE status = 'running'").run(now);
    return store;
  }

  private checkIdentity(federationId: string): void {
    const get = this.db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?");
    const existing = get.get("federation_id")?.value;
    if (existing === undefined) {
      const put = this.db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
      this.db.transaction(() => {
        put.run("federation_id", federationId);
        put.run("schema_version", String(SCHEMA_VERSION));
      })();
      return;
    }
    if (existing !== federationId) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `state directory belongs to federation "${existing}", not "${federationId}": use another stateDir or the matching federationId`,
      );
    }
    let schema = Number(get.get("schema_version")?.value);
    if (schema === 1 || schema === 2) {
      this.db.transaction(() => {
        // v1 kept no signature: its rows stay as they were (null), new ones carry theirs.
        if (schema === 1) {
          this.db.exec("ALTER TABLE updates ADD COLUMN manifest_json TEXT");
          this.db.exec("ALTER TABLE updates ADD COLUMN signature BLOB");
        }
        // v2's upload_id primary key becomes a row id; its ids were unique, so they are per site.
        this.db.exec("ALTER TABLE updates RENAME TO updates_v2");
        this.db.exec("DROP INDEX IF EXISTS updates_by_round");
        this.db.exec(UPDATES_TABLE);
        this.db.exec(
          `INSERT INTO updates (id, ${UPDATE_COLUMNS}) SELECT rowid, ${UPDATE_COLUMNS} FROM updates_v2 ORDER BY rowid`,
        );
        this.db.exec("DROP TABLE updates_v2");
        this.setSchemaVersion(3);
      })();
      schema = 3;
    }
    if (schema === 3) {
      this.db.transaction(() => {
        // A database from before evaluations were kept gets the table, column included, from SCHEMA.
        const columns = this.db.prepare<[], { name: string }>("PRAGMA table_info(evaluations)").all();
        if (columns.length > 0 && !columns.some((c) => c.name === "statistics_json"))
          this.db.exec("ALTER TABLE evaluations ADD COLUMN statistics_json TEXT");
        this.setSchemaVersion(4);
      })();
      schema = 4;
    }
    if (schema === 4) {
      this.db.transaction(() => {
        this.db.exec(PRIVACY_LEDGER_TABLE);
        this.setSchemaVersion(5);
      })();
      schema = 5;
    }
    if (schema !== SCHEMA_VERSION) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `state database schema v${schema} is not supported (expected v${SCHEMA_VERSION})`,
      );
    }
  }

  private setSchemaVersion(version: number): void {
    this.db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(version));
  }

  close(): void {
    this.db.close();
  }

  getMeta(key: string): string | undefined {
    return this.db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?").get(key)
      ?.value;
  }

  /** When the plan completed (an ISO time), once it has: the federation is then done for good. */
  completedAt(): string | undefined {
    return this.getMeta("completed_at");
  }

  markCompleted(at: Date): void {
    this.setMeta("completed_at", at.toISOString());
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(key, value);
  }

  // --- sites -------------------------------------------------------------------------------

  upsertSite(site: { siteId: string; signingPublicKey: string; encryptionPublicKey: string }): void {
    this.db
      .prepare(
        `INSERT INTO sites (site_id, signing_public_key, encryption_public_key) VALUES (?, ?, ?)
         ON CONFLICT(site_id) DO UPDATE SET signing_public_key = excluded.signing_public_key,
           encryption_public_key = excluded.encryption_public_key`,
      )
      .run(site.siteId, site.signingPublicKey, site.encryptionPublicKey);
  }

  recordJoin(siteId: string, atMs: number, info: Record<string, unknown>): void {
    this.db
      .prepare("UPDATE sites SET last_joined_at_ms = ?, info_json = ? WHERE site_id = ?")
      .run(atMs, JSON.stringify(info), siteId);
  }

  listSites(): SiteRecord[] {
    return this.db
      .prepare<
        [],
        {
          site_id: string;
          signing_public_key: string;
          encryption_public_key: string;
          last_joined_at_ms: number | null;
          info_json: string | null;
        }
      >("SELECT * FROM sites ORDER BY site_id")
      .all()
      .map((r) => ({
        siteId: r.site_id,
        signingPublicKey: r.signing_public_key,
        encryptionPublicKey: r.encryption_public_key,
        lastJoinedAtMs: r.last_joined_at_ms,
        info: r.info_json ? (JSON.parse(r.info_json) as Record<string, unknown>) : null,
      }));
  }

  // --- checkpoints and rounds --------------------------------------------------------------

  /** Records the initial model (version 0). Idempotent: a second call keeps the first. */
  recordInitialCheckpoint(checkpoint: CheckpointRecord): void {
    this.insertCheckpoint(checkpoint, { orIgnore: true });
  }

  private insertCheckpoint(
    checkpoint: CheckpointRecord,
    options: { orIgnore?: boolean; strategyState?: StrategyStateRecord } = {},
  ): void {
    this.db
      .prepare(
        `INSERT ${options.orIgnore ? "OR IGNORE " : ""}INTO checkpoints
           (version, round, path, sha256, bytes, created_at_ms, strategy_phase, strategy_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        checkpoint.version,
        checkpoint.round,
        checkpoint.path,
        checkpoint.sha256,
        checkpoint.bytes,
        checkpoint.createdAtMs,
        options.strategyState?.phase ?? null,
        options.strategyState ? Buffer.from(options.strategyState.state) : null,
      );
  }

  latestCheckpoint(): CheckpointRecord | undefined {
    const row = this.db
      .prepare<
        [],
        { version: number; round: number; path: string; sha256: string; bytes: number; created_at_ms: number }
      >("SELECT * FROM checkpoints ORDER BY version DESC LIMIT 1")
      .get();
    return row && toCheckpoint(row);
  }

  checkpoint(version: number): CheckpointRecord | undefined {
    const row = this.db
      .prepare<
        [number],
        { version: number; round: number; path: string; sha256: string; bytes: number; created_at_ms: number }
      >("SELECT * FROM checkpoints WHERE version = ?")
      .get(version);
    return row && toCheckpoint(row);
  }

  /** The highest round with a completed attempt, 0 when none. */
  lastCompletedRound(): number {
    return (
      this.db
        .prepare<[], { r: number | null }>("SELECT MAX(round) AS r FROM rounds WHERE status = 'completed'")
        .get()?.r ?? 0
    );
  }

  nextAttempt(round: number): number {
    const max = this.db
      .prepare<[number], { a: number | null }>("SELECT MAX(attempt) AS a FROM rounds WHERE round = ?")
      .get(round)?.a;
    return (max ?? 0) + 1;
  }

  startRound(r: RoundStart): void {
    this.db
      .prepare(
        `INSERT INTO rounds (round, attempt, phase, status, model_version_in, sampled_json, started_at_ms)
         VALUES (?, ?, ?, 'running', ?, ?, ?)`,
      )
      .run(r.round, r.attempt, r.phase, r.modelVersionIn, JSON.stringify(r.sampled), r.startedAtMs);
  }

  /**
   * Commits a round in one transaction: the round row, the checkpoint of the new version and its
   * metrics. The checkpoint file must already be durable on disk.
   */
  completeRound(r: RoundCommit): void {
    this.db.transaction(() => {
      const changed = this.db
        .prepare(
          `UPDATE rounds SET status = 'completed', model_version_out = ?, accepted_count = ?, failures_json = ?,
             metrics_json = ?, ended_at_ms = ? WHERE round = ? AND attempt = ? AND status = 'running'`,
        )
        .run(
          r.checkpoint.version,
          r.acceptedCount,
          JSON.stringify(r.failures),
          JSON.stringify(r.metrics),
          r.endedAtMs,
          r.round,
          r.attempt,
        );
      if (changed.changes !== 1) {
        throw new FlError(
          ErrorCode.Internal,
          `round ${r.round} attempt ${r.attempt} is not running; refusing to commit it`,
        );
      }
      this.insertCheckpoint(r.checkpoint, r.strategyState ? { strategyState: r.strategyState } : {});
      if (r.privacy)
        this.db
          .prepare("INSERT INTO privacy_ledger (round, state_json) VALUES (?, ?)")
          .run(r.privacy.round, JSON.stringify(r.privacy.state));
    })();
  }

  /** The DP ledger of the last committed round that has one. */
  latestPrivacyLedger(): PrivacyLedgerRecord | undefined {
    const row = this.db
      .prepare<[], { round: number; state_json: string }>(
        "SELECT round, state_json FROM privacy_ledger ORDER BY round DESC LIMIT 1",
      )
      .get();
    return row && { round: row.round, state: JSON.parse(row.state_json) as unknown };
  }

  /** A phase's starting model: its checkpoint and the marker that it was entered, in one transaction. */
  recordPhaseEntry(checkpoint: CheckpointRecord, marker: string): void {
    this.db.transaction(() => {
      this.insertCheckpoint(checkpoint);
      this.setMeta(marker, String(checkpoint.version));
    })();
  }

  /** The server optimiser state committed with a model version, if any. */
  strategyState(version: number): StrategyStateRecord | undefined {
    const row = this.db
      .prepare<[number], { strategy_phase: string | null; strategy_state: Buffer | null }>(
        "SELECT strategy_phase, strategy_state FROM checkpoints WHERE version = ?",
      )
      .get(version);
    if (!row?.strategy_phase || !row.strategy_state) return undefined;
    return { phase: row.strategy_phase, state: new Uint8Array(row.strategy_state) };
  }

  failRound(r: RoundFailure): void {
    this.db
      .prepare(
        `UPDATE rounds SET status = 'failed', accepted_count = ?, failures_json = ?, ended_at_ms = ?
         WHERE round = ? AND attempt = ? AND status = 'running'`,
      )
      .run(r.acceptedCount, JSON.stringify(r.failures), r.endedAtMs, r.round, r.attempt);
  }

  listRounds(): RoundRecord[] {
    return this.db
      .prepare<[], RoundRow>("SELECT * FROM rounds ORDER BY round, attempt")
      .all()
      .map((row) => ({
        round: row.round,
        attempt: row.attempt,
        phase: row.phase,
        status: row.status,
        modelVersionIn: row.model_version_in,
        modelVersionOut: row.model_version_out,
        sampled: JSON.parse(row.sampled_json) as string[],
        acceptedCount: row.accepted_count,
        failures: JSON.parse(row.failures_json) as Array<{ siteId: string; reason: string }>,
        metrics: JSON.parse(row.metrics_json) as Record<string, number>,
        startedAtMs: row.started_at_ms,
        endedAtMs: row.ended_at_ms,
      }));
  }

  // --- updates -----------------------------------------------------------------------------

  hasUpload(siteId: string, uploadId: string): boolean {
    return (
      this.db.prepare("SELECT 1 FROM updates WHERE site_id = ? AND upload_id = ?").get(siteId, uploadId) !==
      undefined
    );
  }

  recordUpdate(u: UpdateRecord, within?: () => void): void {
    const insert = this.db.prepare(
      `INSERT INTO updates (${UPDATE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    this.db.transaction(() => {
      insert.run(
        u.uploadId,
        u.round,
        u.attempt,
        u.siteId,
        u.taskId,
        u.modelVersion,
        u.contentSha256,
        u.numExamples,
        u.plaintextBytes,
        u.status,
        u.reason,
        JSON.stringify(u.trainMetrics),
        u.receivedAtMs,
        u.signed && JSON.stringify(u.signed.manifest),
        u.signed && Buffer.from(u.signed.signature),
      );
      within?.();
    })();
  }

  listUpdates(filter?: { round?: number; attempt?: number }): UpdateRecord[] {
    const rows = this.db.prepare<[], UpdateRow>("SELECT * FROM updates ORDER BY received_at_ms, id").all();
    return rows
      .filter(
        (r) =>
          (filter?.round === undefined || r.round === filter.round) &&
          (filter?.attempt === undefined || r.attempt === filter.attempt),
      )
      .map((r) => ({
        uploadId: r.upload_id,
        round: r.round,
        attempt: r.attempt,
        siteId: r.site_id,
        taskId: r.task_id,
        modelVersion: r.model_version,
        contentSha256: r.content_sha256,
        numExamples: r.num_examples,
        plaintextBytes: r.plaintext_bytes,
        status: r.status,
        reason: r.reason,
        trainMetrics: JSON.parse(r.train_metrics_json) as Record<string, number>,
        receivedAtMs: r.received_at_ms,
        signed:
          r.manifest_json !== null && r.signature !== null
            ? {
                manifest: JSON.parse(r.manifest_json) as UpdateManifest,
                signature: new Uint8Array(r.signature),
              }
            : null,
      }));
  }

  // --- evaluations -------------------------------------------------------------------------

  /** One report per (model version, site, split); a repeated report replaces the earlier one. */
  recordEvaluation(e: EvaluationRecord): void {
    this.db
      .prepare(
        `INSERT INTO evaluations (round, model_version, site_id, split, num_examples, confusion_json, metrics_json, received_at_ms, statistics_json)
         VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(model_version, site_id, split) DO UPDATE SET
           round = excluded.round, num_examples = excluded.num_examples, confusion_json = excluded.confusion_json,
           metrics_json = excluded.metrics_json, received_at_ms = excluded.received_at_ms,
           statistics_json = excluded.statistics_json`,
      )
      .run(
        e.round,
        e.modelVersion,
        e.siteId,
        e.split,
        e.numExamples,
        JSON.stringify(e.confusion),
        JSON.stringify(e.metrics),
        e.receivedAtMs,
        e.statistics ? JSON.stringify(e.statistics) : null,
      );
  }

  /**
   * One version's reports, or every version's. Filtered in SQL: a version's rows of 500 sites carry
   * hundreds of MB of statistics once parsed, and callers ask for one version many times a round.
   */
  listEvaluations(modelVersion?: number): EvaluationRecord[] {
    if (modelVersion !== undefined) return [...this.iterateEvaluations(modelVersion)];
    return this.db
      .prepare<[], EvaluationRow>("SELECT * FROM evaluations ORDER BY model_version, site_id, split")
      .all()
      .map(evaluationRecord);
  }

  /**
   * One version's reports in listEvaluations' order, parsed one row at a time, so that a reader
   * that folds them holds one site's statistics at a time. Consume it before writing to the store:
   * the connection is busy until the iteration ends.
   */
  *iterateEvaluations(modelVersion: number): Generator<EvaluationRecord> {
    const rows = this.db
      .prepare<[number], EvaluationRow>(
        "SELECT * FROM evaluations WHERE model_version = ? ORDER BY site_id, split",
      )
      .iterate(modelVersion);
    for (const row of rows) yield evaluationRecord(row);
  }

  /**
   * The sites (the coordinator's own "@…" included) with a report on a version, without parsing
   * any: for callers that ask who reported, which listEvaluations answers at 500 sites by parsing
   * hundreds of MB of statistics.
   */
  evaluatedSites(modelVersion: number): string[] {
    return this.db
      .prepare<[number], { site_id: string }>(
        "SELECT DISTINCT site_id FROM evaluations WHERE model_version = ? ORDER BY site_id",
      )
      .all(modelVersion)
      .map((r) => r.site_id);
  }

  /** The model versions with at least one report, ascending: lets readers go one version at a time. */
  evaluatedVersions(): number[] {
    return this.db
      .prepare<[], { model_version: number }>(
        "SELECT DISTINCT model_version FROM evaluations ORDER BY model_version",
      )
      .all()
      .map((r) => r.model_version);
  }

  /**
   * Records that the evaluation of a model version was sent to `expected`; a restarted run of the
   * same version replaces the earlier record and is unsettled until settleEvaluation.
   */
  startEvaluation(run: EvaluationRunStart): void {
    this.db
      .prepare(
        `INSERT INTO evaluation_runs (model_version, round, expected_json, failures_json, started_at_ms, settled_at_ms)
         VALUES (?,?,?,'[]',?,NULL) ON CONFLICT(model_version) DO UPDATE SET round = excluded.round,
           expected_json = excluded.expected_json, failures_json = '[]', started_at_ms = excluded.started_at_ms,
           settled_at_ms = NULL`,
      )
      .run(run.modelVersion, run.round, JSON.stringify(run.expected), run.startedAtMs);
  }

  /** Every expected site of the run has reported or failed its task. */
  settleEvaluation(run: EvaluationRunSettled): void {
    const changed = this.db
      .prepare("UPDATE evaluation_runs SET failures_json = ?, settled_at_ms = ? WHERE model_version = ?")
      .run(JSON.stringify(run.failures), run.settledAtMs, run.modelVersion);
    if (changed.changes !== 1)
      throw new FlError(
        ErrorCode.Internal,
        `no evaluation of model v${run.modelVersion} was started; refusing to settle it`,
      );
  }

  evaluationRun(modelVersion: number): EvaluationRunRecord | undefined {
    const row = this.db
      .prepare<[number], EvaluationRunRow>("SELECT * FROM evaluation_runs WHERE model_version = ?")
      .get(modelVersion);
    return (
      row && {
        modelVersion: row.model_version,
        round: row.round,
        expected: JSON.parse(row.expected_json) as string[],
        failures: JSON.parse(row.failures_json) as TaskFailureRecord[],
        startedAtMs: row.started_at_ms,
        settledAtMs: row.settled_at_ms,
      }
    );
  }
}

interface EvaluationRunRow {
  model_version: number;
  round: number;
  expected_json: string;
  failures_json: string;
  started_at_ms: number;
  settled_at_ms: number | null;
}

interface RoundRow {
  round: number;
  attempt: number;
  phase: string;
  status: RoundStatus;
  model_version_in: number;
  model_version_out: number | null;
  sampled_json: string;
  accepted_count: number;
  failures_json: string;
  metrics_json: string;
  started_at_ms: number;
  ended_at_ms: number | null;
}

interface UpdateRow {
  upload_id: string;
  round: number;
  attempt: number;
  site_id: string;
  task_id: string;
  model_version: number;
  content_sha256: string;
  num_examples: number;
  plaintext_bytes: number;
  status: "accepted" | "rejected";
  reason: string | null;
  train_metrics_json: string;
  received_at_ms: number;
  manifest_json: string | null;
  signature: Buffer | null;
}

function evaluationRecord(r: EvaluationRow): EvaluationRecord {
  return {
    round: r.round,
    modelVersion: r.model_version,
    siteId: r.site_id,
    split: r.split,
    numExamples: r.num_examples,
    confusion: JSON.parse(r.confusion_json) as number[][],
    metrics: JSON.parse(r.metrics_json) as Record<string, number>,
    ...(r.statistics_json !== null && {
      statistics: JSON.parse(r.statistics_json) as EvaluationStatistics,
    }),
    receivedAtMs: r.received_at_ms,
  };
}

interface EvaluationRow {
  round: number;
  model_version: number;
  site_id: string;
  split: string;
  num_examples: number;
  confusion_json: string;
  metrics_json: string;
  received_at_ms: number;
  statistics_json: string | null;
}

function toCheckpoint(row: {
  version: number;
  round: number;
  path: string;
  sha256: string;
  bytes: number;
  created_at_ms: number;
}): CheckpointRecord {
  return {
    version: row.version,
    round: row.round,
    path: row.path,
    sha256: row.sha256,
    bytes: row.bytes,
    createdAtMs: row.created_at_ms,
  };
}
