import { describe, expect, it } from "vitest";
import { StatusTracker } from "../../../../coordinator/src/admin/status.js";
import { statusSeed } from "../../../../coordinator/src/admin/status-seed.js";
import type {
  EvaluationRecord,
  RoundRecord,
  SiteRecord,
  UpdateRecord,
} from "../../../../coordinator/src/store/records.js";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");

function round(
  r: number,
  attempt: number,
  status: RoundRecord["status"],
  extra: Partial<RoundRecord> = {},
): RoundRecord {
  return {
    round: r,
    attempt,
    phase: "supervised",
    status,
    modelVersionIn: r - 1,
    modelVersionOut: status === "completed" ? r : null,
    sampled: ["a", "b"],
    acceptedCount: status === "completed" ? 2 : 0,
    failures: [],
    metrics: {},
    startedAtMs: T0 + r * 60_000,
    endedAtMs: T0 + r * 60_000 + 30_000,
    ...extra,
  };
}

function evaluation(siteId: string, confusion: number[][], receivedAtMs: number): EvaluationRecord {
  return {
    round: 2,
    modelVersion: 2,
    siteId,
    split: "test",
    numExamples: confusion.flat().reduce((a, b) => a + b, 0),
    confusion,
    metrics: {},
    receivedAtMs,
  };
}

function update(status: "accepted" | "rejected", reason: string | null): UpdateRecord {
  return {
    uploadId: `${status}-${reason}`,
    round: 1,
    attempt: 1,
    siteId: "a",
    taskId: "t",
    modelVersion: 0,
    contentSha256: "",
    numExamples: 1,
    plaintextBytes: 1,
    status,
    reason,
    trainMetrics: {},
    receivedAtMs: T0,
    signed: null,
  };
}

const STORED = {
  rounds: [
    round(2, 1, "completed", { metrics: { "train.loss": 0.8 } }),
    round(1, 1, "completed", { metrics: { "train.loss": 1.25 } }),
    round(3, 1, "failed", { failures: [{ siteId: "b", reason: "client lost: missed heartbeats" }] }),
    round(3, 2, "running"),
  ],
  evaluations: [
    // a: 4 of 5 right; b: 3 of 4 right; pooled 7 of 9.
    evaluation(
      "a",
      [
        [2, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 1],
      ],
      T0 + 200_000,
    ),
    evaluation(
      "b",
      [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 1, 0],
      ],
      T0 + 210_000,
    ),
  ],
  updates: [
    update("accepted", null),
    update("accepted", null),
    update("accepted", null),
    update("rejected", "FL_WEIGHTS_SHAPE_MISMATCH: tensor conv1/kernel has 8 values, expected 16"),
    update("rejected", "FL_WEIGHTS_SHAPE_MISMATCH: again"),
  ],
  sites: [
    {
      siteId: "a",
      signingPublicKey: "",
      encryptionPublicKey: "",
      lastJoinedAtMs: T0 + 5_000,
      info: { backend: "wasm" },
    },
    { siteId: "gone", signingPublicKey: "", encryptionPublicKey: "", lastJoinedAtMs: T0, info: null },
  ] satisfies SiteRecord[],
};

describe("a restarted coordinator's status and curve come from the store", () => {
  it("rebuilds rounds, the learning curve, the last evaluation and update counts", () => {
    const tracker = new StatusTracker("fed", ["a", "b"]);
    tracker.restore(statusSeed(STORED));
    const history = tracker.history();
    // Round order, the running attempt left out, the train loss of each completed round.
    expect(history.rounds.map((r) => [r.round, r.outcome, r.trainLoss])).toEqual([
      [1, "completed", 1.25],
      [2, "completed", 0.8],
      [3, "failed", null],
    ]);
    expect(history.evaluations).toHaveLength(1);
    expect(history.evaluations[0]?.pooled.accuracy).toBeCloseTo(7 / 9, 12);
    expect(history.evaluations[0]?.pooled.count).toBe(9);
    expect(history.evaluations[0]?.at).toBe(new Date(T0 + 210_000).toISOString());

    const status = tracker.snapshot(T0 + 300_000);
    expect(status.plan).toMatchObject({ phase: "supervised", round: 3, attempt: 1, completedRounds: 2 });
    expect(status.lastRound).toMatchObject({
      round: 3,
      outcome: "failed",
      reason: "b: client lost: missed heartbeats",
    });
    expect(status.lastEvaluation?.modelVersion).toBe(2);
    expect(status.updates).toEqual({ accepted: 3, rejected: { FL_WEIGHTS_SHAPE_MISMATCH: 2 } });
    // Sites keep what the store knew, but none is connected until it joins this coordinator.
    expect(status.sites).toEqual([
      {
        siteId: "a",
        state: "never",
        lastSeen: new Date(T0 + 5_000).toISOString(),
        backend: "wasm",
        task: null,
      },
      { siteId: "b", state: "never", lastSeen: null, backend: null, task: null },
    ]);
  });

  it("continues from the restored state with live events, without counting the past twice", () => {
    const tracker = new StatusTracker("fed", ["a", "b"]);
    tracker.restore(statusSeed(STORED));
    const at = new Date(T0 + 400_000).toISOString();
    const base = { federationId: "fed", timestamp: at, id: "x", sequence: 1 };
    tracker.event({
      ...base,
      type: "federation.started",
      data: { totalRounds: 5, resumedAfterRound: 2 },
    } as never);
    tracker.event({ ...base, type: "update.accepted", siteId: "a", round: 3, data: {} } as never);
    tracker.event({
      ...base,
      type: "round.completed",
      round: 3,
      data: { accepted: 1, metrics: { "train.loss": 0.5 } },
    } as never);
    const status = tracker.snapshot(T0 + 400_000);
    expect(status.updates.accepted).toBe(4);
    expect(status.plan.completedRounds).toBe(3);
    expect(tracker.history().rounds.map((r) => r.trainLoss)).toEqual([1.25, 0.8, null, 0.5]);
  });
});
