import { describe, expect, it } from "vitest";
import { StatusTracker } from "../../../../coordinator/src/admin/status.js";
import type { FlEvent, FlEventType } from "../../../../shared/src/events/types.js";

const T0 = Date.parse("2026-12-01T10:00:00.000Z");

function event(
  type: FlEventType,
  secondsAfter: number,
  fields: { round?: number; siteId?: string; data?: Record<string, unknown> } = {},
): FlEvent {
  return {
    type,
    federationId: "f",
    timestamp: new Date(T0 + secondsAfter * 1000).toISOString(),
    ...(fields.round !== undefined && { round: fields.round }),
    ...(fields.siteId !== undefined && { siteId: fields.siteId }),
    data: fields.data ?? {},
  };
}

describe("StatusTracker", () => {
  it("lists every enrolled site as never seen before anything happens", () => {
    const status = new StatusTracker("f", ["b", "a"]).snapshot(T0);
    expect(status.state).toBe("starting");
    expect(status.sites.map((s) => [s.siteId, s.state, s.lastSeen, s.task])).toEqual([
      ["a", "never", null, null],
      ["b", "never", null, null],
    ]);
    expect(status.plan).toEqual({
      phase: null,
      round: null,
      attempt: null,
      completedRounds: 0,
      totalRounds: null,
    });
  });

  it("follows joins, a round with its task progress, updates and the last evaluation", () => {
    const tracker = new StatusTracker("f", ["a", "b", "c"]);
    tracker.event(event("federation.started", 0, { data: { totalRounds: 5, resumedAfterRound: 2 } }));
    tracker.event(event("site.joined", 1, { siteId: "a", data: { backend: "wasm", rejoined: false } }));
    tracker.event(event("site.joined", 2, { siteId: "b", data: { backend: "cpu", rejoined: false } }));
    tracker.event(
      event("round.started", 3, { round: 3, data: { attempt: 2, phase: "supervised", sampled: ["a", "b"] } }),
    );
    tracker.progress(
      { siteId: "a", round: 3, kind: "train", progress: 0.25, status: "epoch 1/4" },
      T0 + 10_000,
    );
    tracker.event(event("update.rejected", 11, { round: 3, siteId: "b", data: { code: "FL_REPLAY" } }));
    tracker.event(event("update.rejected", 12, { round: 3, siteId: "b", data: { code: "FL_REPLAY" } }));
    tracker.event(event("update.rejected", 12, { siteId: "b", data: { code: "FL_SIGNATURE_INVALID" } }));
    tracker.event(event("update.accepted", 13, { round: 3, siteId: "b", data: {} }));
    tracker.event(event("site.left", 14, { siteId: "a", data: { reason: "missed heartbeats" } }));
    tracker.seen("b", T0 + 15_000);

    const during = tracker.snapshot(T0 + 16_000);
    expect(during.state).toBe("running");
    expect(during.startedAt).toBe("2026-12-01T10:00:00.000Z");
    expect(during.plan).toEqual({
      phase: "supervised",
      round: 3,
      attempt: 2,
      completedRounds: 2,
      totalRounds: 5,
    });
    expect(during.sites).toEqual([
      {
        siteId: "a",
        state: "lost",
        lastSeen: "2026-12-01T10:00:10.000Z",
        backend: "wasm",
        lostReason: "missed heartbeats",
        task: null,
      },
      {
        siteId: "b",
        state: "connected",
        lastSeen: "2026-12-01T10:00:15.000Z",
        backend: "cpu",
        task: { round: 3, kind: "train", progress: 1, status: "update accepted" },
      },
      { siteId: "c", state: "never", lastSeen: null, backend: null, task: null },
    ]);
    expect(during.updates).toEqual({ accepted: 1, rejected: { FL_REPLAY: 2, FL_SIGNATURE_INVALID: 1 } });
    expect(tracker.connectedSites()).toBe(1);

    tracker.event(event("round.completed", 20, { round: 3, data: { accepted: 1, aggregationMs: 4 } }));
    tracker.event(
      event("evaluation.completed", 25, {
        round: 3,
        data: { modelVersion: 3, pooled: { accuracy: 0.5, macroF1: 0.25, count: 8 }, perSite: {} },
      }),
    );
    const after = tracker.snapshot(T0 + 26_000);
    expect(after.plan.completedRounds).toBe(3);
    expect(after.lastRound).toEqual({
      round: 3,
      outcome: "completed",
      at: "2026-12-01T10:00:20.000Z",
      accepted: 1,
    });
    expect(after.lastEvaluation).toEqual({
      round: 3,
      modelVersion: 3,
      at: "2026-12-01T10:00:25.000Z",
      pooled: { accuracy: 0.5, macroF1: 0.25, count: 8 },
    });
    expect(after.sites.every((s) => s.task === null)).toBe(true);
    expect(after.generatedAt).toBe("2026-12-01T10:00:26.000Z");
  });

  it("says why a round and the federation failed, and that a site that rejoins is connected again", () => {
    const tracker = new StatusTracker("f", ["a"]);
    tracker.event(event("federation.started", 0, { data: { totalRounds: 1, resumedAfterRound: 0 } }));
    tracker.event(event("site.left", 1, { siteId: "a", data: { reason: "left" } }));
    tracker.event(event("site.joined", 2, { siteId: "a", data: { backend: "wasm" } }));
    tracker.event(
      event("round.failed", 9, {
        round: 1,
        data: { attempt: 1, reason: "only 0 of the required 1 updates arrived" },
      }),
    );
    tracker.finished({ status: "failed", reason: "round 1 failed 1 times" });
    const status = tracker.snapshot(T0 + 10_000);
    expect(status.state).toBe("failed");
    expect(status.reason).toBe("round 1 failed 1 times");
    expect(status.lastRound).toEqual({
      round: 1,
      outcome: "failed",
      at: "2026-12-01T10:00:09.000Z",
      reason: "only 0 of the required 1 updates arrived",
    });
    expect(status.sites[0]).toMatchObject({ state: "connected", backend: "wasm" });
    expect(status.sites[0]).not.toHaveProperty("lostReason");
  });

  it("adds a site enrolled at run time and drops a revoked one", () => {
    const tracker = new StatusTracker("f", ["a", "b"]);
    tracker.event(event("site.joined", 1, { siteId: "a", data: { backend: "wasm" } }));
    tracker.event(event("site.enrolled", 2, { siteId: "c", data: { fingerprint: "x" } }));
    tracker.event(event("site.revoked", 3, { siteId: "a", data: { reason: "lost laptop" } }));
    expect(tracker.snapshot(T0).sites.map((s) => [s.siteId, s.state])).toEqual([
      ["b", "never"],
      ["c", "never"],
    ]);
    expect(tracker.enrolledSites()).toBe(2);
    expect(tracker.connectedSites()).toBe(0);
  });

  it("keeps every round's training loss and every evaluation for the dashboard's curve", () => {
    const tracker = new StatusTracker("f", ["a"]);
    tracker.event(
      event("round.completed", 10, { round: 1, data: { metrics: { "train.loss": 1.5, accepted: 2 } } }),
    );
    tracker.event(
      event("evaluation.completed", 12, {
        round: 1,
        data: { modelVersion: 1, pooled: { accuracy: 0.5, note: "x" } },
      }),
    );
    tracker.event(event("round.failed", 20, { round: 2, data: { reason: "timeout" } }));
    // A round without a training loss (sites that report none) is kept, with null.
    tracker.event(event("round.completed", 30, { round: 2, data: { metrics: { accepted: 1 } } }));
    expect(tracker.history()).toEqual({
      rounds: [
        { round: 1, outcome: "completed", at: "2026-12-01T10:00:10.000Z", trainLoss: 1.5 },
        { round: 2, outcome: "failed", at: "2026-12-01T10:00:20.000Z", trainLoss: null },
        { round: 2, outcome: "completed", at: "2026-12-01T10:00:30.000Z", trainLoss: null },
      ],
      evaluations: [{ round: 1, modelVersion: 1, at: "2026-12-01T10:00:12.000Z", pooled: { accuracy: 0.5 } }],
    });
  });

  it("ignores signs of life from sites that are not enrolled", () => {
    const tracker = new StatusTracker("f", ["a"]);
    tracker.seen("intruder", T0);
    expect(tracker.snapshot(T0).sites.map((s) => s.siteId)).toEqual(["a"]);
  });
});
