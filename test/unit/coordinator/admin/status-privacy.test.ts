import { expect, it } from "vitest";
import { formatStatus } from "../../../../cli/commands/status.js";
import { StatusTracker } from "../../../../coordinator/src/admin/status.js";
import { statusSeed } from "../../../../coordinator/src/admin/status-seed.js";
import type { RoundRecord } from "../../../../coordinator/src/store/records.js";
import type { FlEvent } from "../../../../shared/src/events/types.js";

const T0 = Date.parse("2026-12-01T10:00:00.000Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

it("shows the ε spent after the last committed round, and why a federation ended early", () => {
  const tracker = new StatusTracker("f", ["a"]);
  const completed = (round: number, epsilon: number): FlEvent => ({
    type: "round.completed",
    federationId: "f",
    timestamp: at(round),
    round,
    data: { metrics: { "privacy.epsilon": epsilon, "privacy.delta": 1e-5, "privacy.budget": 4 } },
  });
  tracker.event({
    type: "federation.started",
    federationId: "f",
    timestamp: at(0),
    data: { totalRounds: 5 },
  });
  tracker.event(completed(1, 1.5));
  tracker.event(completed(2, 2.9));
  tracker.finished({ status: "completed", reason: "the privacy budget ε 4 would be exceeded by round 3" });
  const status = tracker.snapshot(T0 + 10_000);
  expect(status.privacy).toEqual({ epsilon: 2.9, delta: 1e-5, budget: 4 });
  expect(status.reason).toBe("the privacy budget ε 4 would be exceeded by round 3");
  const text = formatStatus(status, T0 + 10_000);
  expect(text).toContain("differential privacy: ε 2.900 spent at δ 0.00001 (budget 4)");
  expect(text).toContain("completed (the privacy budget ε 4 would be exceeded by round 3)");
  // Without DP nothing of the kind appears.
  expect(new StatusTracker("f", ["a"]).snapshot(T0).privacy).toBeUndefined();
});

it("seeds a restarted coordinator's status with the last committed round's ε", () => {
  const round = (r: number, status: RoundRecord["status"], epsilon: number): RoundRecord =>
    ({
      round: r,
      attempt: 1,
      phase: "p",
      status,
      modelVersionIn: r - 1,
      modelVersionOut: status === "completed" ? r : null,
      sampled: ["a"],
      acceptedCount: 1,
      failures: [],
      metrics: { "privacy.epsilon": epsilon, "privacy.delta": 1e-6 },
      startedAtMs: T0,
      endedAtMs: T0,
    }) as RoundRecord;
  const seed = statusSeed({
    rounds: [round(2, "completed", 2), round(1, "completed", 1), round(3, "failed", 99)],
    evaluations: [],
    updates: [],
    sites: [],
  });
  expect(seed.privacy).toEqual({ epsilon: 2, delta: 1e-6 });
  const tracker = new StatusTracker("f", []);
  tracker.restore(seed);
  expect(tracker.snapshot(T0).privacy).toEqual({ epsilon: 2, delta: 1e-6 });
});
