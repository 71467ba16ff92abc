import { expect, it } from "vitest";
import { formatStatus, statusTarget } from "../../../cli/commands/status.js";
import type { FederationStatus } from "../../../coordinator/src/admin/status.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";

const NOW = Date.parse("2026-12-01T10:10:00.000Z");

const STATUS: FederationStatus = {
  federationId: "cxr",
  state: "running",
  startedAt: "2026-12-01T10:00:00.000Z",
  plan: { phase: "supervised", round: 4, attempt: 2, completedRounds: 3, totalRounds: 10 },
  sites: [
    {
      siteId: "metro-icu",
      state: "connected",
      lastSeen: "2026-12-01T10:09:57.000Z",
      backend: "wasm",
      task: { round: 4, kind: "train", progress: 0.375, status: "epoch 2/4" },
    },
    {
      siteId: "st-marys",
      state: "lost",
      lastSeen: "2026-12-01T09:55:00.000Z",
      backend: "tensorflow",
      lostReason: "missed heartbeats",
      task: null,
    },
    { siteId: "community", state: "never", lastSeen: null, backend: null, task: null },
  ],
  updates: { accepted: 7, rejected: { FL_REPLAY: 1, FL_NON_FINITE: 2 } },
  lastRound: { round: 3, outcome: "completed", at: "2026-12-01T10:08:00.000Z", accepted: 2 },
  lastEvaluation: {
    round: 3,
    modelVersion: 3,
    at: "2026-12-01T10:09:00.000Z",
    pooled: { accuracy: 0.6125, macroF1: 0.5, count: 80 },
  },
  generatedAt: "2026-12-01T10:10:00.000Z",
};

it("prints the federation, its updates and one row per site", () => {
  expect(formatStatus(STATUS, NOW)).toBe(
    [
      "federation cxr: running; 3/10 rounds done; round 4 (attempt 2), phase supervised",
      "updates: 7 accepted, 3 rejected (FL_REPLAY 1, FL_NON_FINITE 2)",
      "last round: 3 completed 2 min ago",
      "last evaluation: model v3: accuracy 0.613, macroF1 0.500 (60 s ago)",
      "",
      "SITE       STATE                     LAST SEEN   BACKEND     TASK",
      "metro-icu  connected                 3 s ago     wasm        train r4 38% epoch 2/4",
      "st-marys   lost (missed heartbeats)  15 min ago  tensorflow  -",
      "community  never                     -           -           -",
      "",
    ].join("\n"),
  );
});

it("says why the federation failed, and that no round started yet", () => {
  const failed: FederationStatus = {
    ...STATUS,
    state: "failed",
    reason: "round 1 failed 3 times",
    plan: { phase: null, round: null, attempt: null, completedRounds: 0, totalRounds: 2 },
    lastRound: null,
    lastEvaluation: null,
    updates: { accepted: 0, rejected: {} },
  };
  expect(formatStatus(failed, NOW).split("\n").slice(0, 3)).toEqual([
    "federation cxr: failed (round 1 failed 3 times); 0/2 rounds done; no round started yet",
    "updates: 0 accepted, 0 rejected",
    "",
  ]);
});

it("needs a url and a token file, or a run folder", () => {
  expectFlError(() => statusTarget({ url: "http://127.0.0.1:1" }), "FL_INVALID_CONFIG", "--token-file FILE");
  expectFlError(() => statusTarget({ run: "/nonexistent/run" }), "FL_INVALID_CONFIG", "admin.addr");
  expect(statusTarget({ url: "http://h:1", tokenFile: "t" })).toEqual({ url: "http://h:1", tokenFile: "t" });
});
