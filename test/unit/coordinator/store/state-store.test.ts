import { mkdtempSync, rmSync } from "node:fs";
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

it("upgrades a v1 state database in place: old updates keep no signature, new ones keep theirs", () => {
  dir = mkdtempSync(join(tmpdir(), "fl-store-"));
  const path = join(dir, "state.db");
  StateStore.open(path, { federationId: "f" }).close();
  // What a v1 database looked like: no signed-manifest columns, schema_version 1, one update.
  const raw = new Database(path);
  raw.exec("ALTER TABLE updates DROP COLUMN manifest_json");
  raw.exec("ALTER TABLE updates DROP COLUMN signature");
  raw.prepare("UPDATE meta SET value = '1' WHERE key = 'schema_version'").run();
  raw
    .prepare(
      `INSERT INTO updates (upload_id, round, attempt, site_id, task_id, model_version, content_sha256,
         num_examples, plaintext_bytes, status, reason, train_metrics_json, received_at_ms)
       VALUES ('old', 1, 1, 'a', 't', 0, ?, 10, 100, 'accepted', NULL, '{}', 1)`,
    )
    .run("0".repeat(64));
  raw.close();

  const store = StateStore.open(path, { federationId: "f" });
  try {
    const signature = Uint8Array.from({ length: 64 }, (_, i) => i);
    const manifest = { uploadId: "new", federationId: "f" } as unknown as NonNullable<
      UpdateRecord["signed"]
    >["manifest"];
    store.recordUpdate(update("new", { manifest, signature }));
    const byId = new Map(store.listUpdates().map((u) => [u.uploadId, u]));
    expect(byId.get("old")?.signed).toBeNull();
    expect(byId.get("new")?.signed).toEqual({ manifest, signature });
  } finally {
    store.close();
  }
  const check = new Database(path, { readonly: true });
  const version = check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as {
    value: string;
  };
  check.close();
  expect(version.value).toBe("2");
});
