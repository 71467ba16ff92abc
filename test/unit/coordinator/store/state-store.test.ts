import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, expect, it } from "vitest";
import type { UpdateRecord } from "../../../../coordinator/src/store/records.js";
import { StateStore } from "../../../../coordinator/src/store/state-store.js";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const update = (uploadId: string, signed: UpdateRecord["signed"]): UpdateRecord => ({
  uploadId,
  round: 1,
  attempt: 1,
  siteId: "a",
  taskId: "t",
  modelVersion: 0,
  contentSha256: "0".repeat(64),
  numExamples: 10,
  plaintextBytes: 100,
  status: "accepted",
  reason: null,
  trainMetrics: { loss: 1 },
  receivedAtMs: 5,
  signed,
});

/** The updates table as schema v1 and v2 created it (v2 added the two signed-manifest columns). */
function oldDatabase(path: string, version: 1 | 2): void {
  const raw = new Database(path);
  raw.exec(`
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE updates (
      upload_id TEXT PRIMARY KEY, round INTEGER NOT NULL, attempt INTEGER NOT NULL, site_id TEXT NOT NULL,
      task_id TEXT NOT NULL, model_version INTEGER NOT NULL, content_sha256 TEXT NOT NULL,
      num_examples INTEGER NOT NULL, plaintext_bytes INTEGER NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('accepted','rejected')), reason TEXT,
      train_metrics_json TEXT NOT NULL DEFAULT '{}', received_at_ms INTEGER NOT NULL
      ${version === 2 ? ", manifest_json TEXT, signature BLOB" : ""});
    CREATE INDEX updates_by_round ON updates(round, attempt);
  `);
  const meta = raw.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
  meta.run("federation_id", "f");
  meta.run("schema_version", String(version));
  const insert = raw.prepare(
    `INSERT INTO updates (upload_id, round, attempt, site_id, task_id, model_version, content_sha256,
       num_examples, plaintext_bytes, status, reason, train_metrics_json, received_at_ms)
     VALUES (?, 1, 1, ?, 't', 0, ?, 10, 100, 'accepted', NULL, '{}', 1)`,
  );
  // Same millisecond: their order is the order they were written in.
  insert.run("old-z", "z", "0".repeat(64));
  insert.run("old-a", "a", "0".repeat(64));
  raw.close();
}

function schemaVersion(path: string): string {
  const check = new Database(path, { readonly: true });
  const row = check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string };
  check.close();
  return row.value;
}

it.each([1, 2] as const)(
  "upgrades a v%i state database in place: rows kept in order, upload ids unique per site only",
  (version) => {
    dir = mkdtempSync(join(tmpdir(), "fl-store-"));
    const path = join(dir, "state.db");
    oldDatabase(path, version);
    const store = StateStore.open(path, { federationId: "f" });
    try {
      expect(store.listUpdates().map((u) => [u.uploadId, u.siteId, u.signed])).toEqual([
        ["old-z", "z", null],
        ["old-a", "a", null],
      ]);
      const signature = Uint8Array.from({ length: 64 }, (_, i) => i);
      const manifest = { uploadId: "old-a", federationId: "f" } as unknown as NonNullable<
        UpdateRecord["signed"]
      >["manifest"];
      // Site b may use the id site a used; a may not use it twice.
      store.recordUpdate({ ...update("old-a", { manifest, signature }), siteId: "b" });
      expect(() => store.recordUpdate(update("old-a", null))).toThrow(/UNIQUE/);
      expect(store.hasUpload("b", "old-a")).toBe(true);
      expect(store.hasUpload("c", "old-a")).toBe(false);
      const byKey = new Map(store.listUpdates().map((u) => [`${u.siteId}/${u.uploadId}`, u]));
      expect(byKey.get("b/old-a")?.signed).toEqual({ manifest, signature });
    } finally {
      store.close();
    }
    expect(schemaVersion(path)).toBe("5");
  },
);

it("runs the fold inside the row's transaction: no row when it throws, no fold when the row fails", () => {
  dir = mkdtempSync(join(tmpdir(), "fl-store-"));
  const store = StateStore.open(join(dir, "state.db"), { federationId: "f" });
  try {
    expect(() =>
      store.recordUpdate(update("u1", null), () => {
        throw new Error("refused");
      }),
    ).toThrow("refused");
    expect(store.listUpdates()).toEqual([]);
    let folds = 0;
    store.recordUpdate(update("u1", null), () => folds++);
    expect(() => store.recordUpdate(update("u1", null), () => folds++)).toThrow(/UNIQUE/);
    expect(folds).toBe(1);
    expect(store.listUpdates()).toHaveLength(1);
  } finally {
    store.close();
  }
});

it("upgrades a v3 state database (written by the v3 store) to v4: old evaluations kept without statistics", () => {
  dir = mkdtempSync(join(tmpdir(), "fl-store-"));
  const path = join(dir, "state.db");
  // test/fixtures/state/state-v3.db was written by the schema-v3 StateStore (commit 2b8d9c9).
  copyFileSync(join(import.meta.dirname, "../../../fixtures/state/state-v3.db"), path);
  expect(schemaVersion(path)).toBe("3");
  const store = StateStore.open(path, { federationId: "v3-fed" });
  const statistics = {
    bins: 2,
    count: 1,
    scores: [0, 1, 2, 3].map((c) => ({
      positive: c === 3 ? [0, 1] : [0, 0],
      negative: c === 3 ? [0, 0] : [1, 0],
      scoreSum: [0.1 + 0.2, 0.7],
    })),
    confidence: { count: [0, 1], correct: [0, 1], confidenceSum: [0, 0.7] },
    brierSum: 0.1 + 0.2,
    nllSum: -Math.log(0.7),
  };
  try {
    const old = store.listEvaluations(1);
    expect(old.map((e) => [e.siteId, e.numExamples, e.metrics, "statistics" in e])).toEqual([
      ["a", 3, { loss: 0.5, macroAuc: 0.75 }, false],
      ["b", 1, { loss: 0.25 }, false],
    ]);
    // A new report of b replaces its old row, statistics included, doubles exactly.
    store.recordEvaluation({ ...old[1]!, statistics, receivedAtMs: 9 });
    const [a, b] = store.listEvaluations(1);
    expect(a?.statistics).toBeUndefined();
    expect(b?.statistics).toStrictEqual(statistics);
  } finally {
    store.close();
  }
  expect(schemaVersion(path)).toBe("5");
  // Opening it again is a no-op.
  StateStore.open(path, { federationId: "v3-fed" }).close();
  expect(schemaVersion(path)).toBe("5");
});
