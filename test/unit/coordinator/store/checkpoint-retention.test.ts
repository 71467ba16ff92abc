import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PlanSchema } from "../../../../coordinator/src/plan.js";
import { writeReports } from "../../../../coordinator/src/report-files.js";
import {
  checkpointsToRemove,
  pruneCheckpoints,
  sparedByPlan,
} from "../../../../coordinator/src/store/checkpoints.js";
import type { CheckpointRecord } from "../../../../coordinator/src/store/records.js";
import { StateStore } from "../../../../coordinator/src/store/state-store.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const record = (version: number, round: number, path = `/nowhere/v${version}`): CheckpointRecord => ({
  version,
  round,
  path,
  sha256: "0".repeat(64),
  bytes: 1,
  createdAtMs: 0,
});

// Two phases: rounds 1-3 and 4-5; phase b's entry is a new version carrying round 3.
const plan = PlanSchema.parse({
  phases: [
    { name: "a", task: "classify", rounds: 3 },
    { name: "b", task: "classify", rounds: 2 },
  ],
  minSites: 1,
  evaluateEvery: 0,
});
// v0 initial, v1..v3 rounds 1..3, v4 = phase b's entry (round 3), v5..v6 rounds 4..5.
const history = [
  record(0, 0),
  record(1, 1),
  record(2, 2),
  record(3, 3),
  record(4, 3),
  record(5, 4),
  record(6, 5),
];

describe("checkpoint retention", () => {
  it("keeps the newest k and every phase boundary, removing the rest", () => {
    const spare = sparedByPlan(plan, () => true);
    expect(checkpointsToRemove(history, 1, spare).map((r) => r.version)).toEqual([5, 2, 1]);
    expect(checkpointsToRemove(history, 3, spare).map((r) => r.version)).toEqual([2, 1]);
    expect(checkpointsToRemove(history, "all", spare)).toEqual([]);
  });

  it("never removes the newest version, whatever spares say", () => {
    expect(checkpointsToRemove(history, 1, () => false).map((r) => r.version)).toEqual([5, 4, 3, 2, 1, 0]);
  });

  it("spares a version whose due evaluation is not recorded yet (resume evaluates it)", () => {
    const every2 = PlanSchema.parse({ ...plan, evaluateEvery: 2 });
    const evaluated = new Set([1]);
    const spare = sparedByPlan(every2, (version) => evaluated.has(version));
    // Round 2 (v2) and round 4 (v5) are due for evaluation; neither is recorded, so both stay.
    expect(checkpointsToRemove(history, 1, spare).map((r) => r.version)).toEqual([1]);
  });

  it("deletes the files of removed versions only, and only once", () => {
    const dir = mkdtempSync(join(tmpdir(), "fl-retention-"));
    dirs.push(dir);
    const onDisk = history.map((r) => record(r.version, r.round, join(dir, `v${r.version}.flw`)));
    for (const r of onDisk) writeFileSync(r.path, "x");
    const spare = sparedByPlan(plan, () => true);
    expect(pruneCheckpoints({ records: onDisk, keep: 1, spare })).toEqual([5, 2, 1]);
    expect(pruneCheckpoints({ records: onDisk, keep: 1, spare })).toEqual([]);
  });
});

describe("report files", () => {
  it("a write that fails names the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "fl-reports-"));
    dirs.push(dir);
    const store = StateStore.open(join(dir, "state.db"), { federationId: "r" });
    try {
      // A directory where the file should be: the rename over it fails, as a full disk would.
      mkdirSync(join(dir, "rounds.json", "occupied"), { recursive: true });
      expect(() => writeReports(store, dir, "r")).toThrow(
        `cannot write report file ${join(dir, "rounds.json")}`,
      );
    } finally {
      store.close();
    }
  });
});
