import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, expect, it } from "vitest";
import { PlanSchema } from "../../../coordinator/src/plan.js";
import { DpLedger, type DpLedgerState } from "../../../coordinator/src/privacy/dp-ledger.js";
import type { DpSettings } from "../../../coordinator/src/privacy/dp-plan.js";
import { openDpLedger } from "../../../coordinator/src/privacy/dp-round.js";
import { StateStore } from "../../../coordinator/src/store/state-store.js";
import type { RandomBytes } from "../../../shared/src/privacy/gaussian-noise.js";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** ε of T rounds of the Gaussian mechanism (rate 1), from RDP Tα/(2z²) over orders 2…256, by the CKS 2020 conversion. */
function referenceEpsilon(rounds: number, z: number, delta: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let a = 2; a <= 256; a++)
    best = Math.min(
      best,
      (rounds * a) / (2 * z * z) + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1),
    );
  return best;
}

const fixed: DpSettings = {
  mode: "central",
  noiseMultiplier: 1.5,
  updateNoiseMultiplier: 1.5,
  delta: 1e-5,
  clip: { kind: "fixed", norm: 0.5 },
};

/** u = 1 for every uniform: Box–Muller's radius is 0, so the "noise" is exactly 0. */
const noNoise: RandomBytes = (out) => {
  out.fill(0xffffffff);
};

it("charges each round at its sampling rate and reports ε, the task's promise and the stages", () => {
  const ledger = new DpLedger(fixed);
  const round = ledger.prepare(3, 3);
  expect(round.samplingRate).toBe(1);
  expect(round.epsilonBefore).toBe(0);
  expect(round.epsilonAfter).toBeCloseTo(referenceEpsilon(1, 1.5, 1e-5), 2);
  expect(round.stages).toEqual([
    { stage: "dp-clip", clipNorm: 0.5, adaptive: false },
    { stage: "dp-gaussian", noiseMultiplier: 1.5, clipNorm: 0.5, cohort: 3 },
  ]);
  expect(round.task).toEqual({
    cohort: 3,
    secureAggregation: false,
    dp: {
      mode: "central",
      noiseMultiplier: 1.5,
      clipNorm: 0.5,
      delta: 1e-5,
      epsilonBefore: 0,
      epsilonAfter: round.epsilonAfter,
    },
  });
  const { state, metrics } = ledger.settle(round, { accepted: 3, unclippedFraction: 1 });
  expect(ledger.state.rounds).toBe(0); // not adopted until the round is committed
  ledger.adopt(state);
  expect(metrics["privacy.epsilon"]).toBe(round.epsilonAfter);
  expect(metrics["privacy.noiseStd"]).toBeCloseTo((1.5 * 0.5) / 3, 12);
  const second = ledger.prepare(3, 3);
  expect(second.epsilonBefore).toBe(round.epsilonAfter);
  expect(second.epsilonAfter).toBeCloseTo(referenceEpsilon(2, 1.5, 1e-5), 2);
  // Half the connected sites sampled: amplification by subsampling makes the round cheaper.
  expect(ledger.prepare(2, 4).epsilonAfter - second.epsilonBefore).toBeLessThan(
    second.epsilonAfter - second.epsilonBefore,
  );
});

it("flags the first round that would pass the budget, and none before it", () => {
  const e2 = referenceEpsilon(2, 1.5, 1e-5);
  const e3 = referenceEpsilon(3, 1.5, 1e-5);
  const ledger = new DpLedger({ ...fixed, budget: (e2 + e3) / 2 });
  const over: boolean[] = [];
  for (let i = 0; i < 3; i++) {
    const round = ledger.prepare(3, 3);
    over.push(round.overBudget);
    ledger.adopt(ledger.settle(round, { accepted: 3, unclippedFraction: 1 }).state);
  }
  expect(over).toEqual([false, false, true]);
});

it("adapts C geometrically towards the target quantile from the noised fraction of unclipped sites", () => {
  const ledger = new DpLedger({
    ...fixed,
    clip: { kind: "adaptive", initialNorm: 1, targetQuantile: 0.5, learningRate: 0.2, countNoise: 3 },
  });
  const round = ledger.prepare(3, 3);
  expect(round.clipNorm).toBe(1);
  // 2 of the 3 sites unclipped; zero noise: C ← 1·exp(−0.2·(2/3 − 0.5)).
  const { state, metrics } = ledger.settle(round, { accepted: 3, unclippedFraction: 2 / 3 }, noNoise);
  expect(state.clipNorm).toBeCloseTo(Math.exp(-0.2 * (2 / 3 - 0.5)), 12);
  expect(metrics["privacy.unclippedFraction"]).toBeCloseTo(2 / 3, 12);
  // Only 2 of 3 arrived and both were within C: the fraction is over the cohort, 2/3.
  const dropped = ledger.settle(round, { accepted: 2, unclippedFraction: 1 }, noNoise);
  expect(dropped.state.clipNorm).toBeCloseTo(Math.exp(-0.2 * (2 / 3 - 0.5)), 12);
});

it("keeps the ledger in the store with its round (schema v5), so a restarted coordinator resumes ε", () => {
  dir = mkdtempSync(join(tmpdir(), "fl-dp-"));
  const path = join(dir, "state.db");
  const plan = PlanSchema.parse({
    phases: [{ name: "p", task: "classify", rounds: 5 }],
    privacy: { dp: { clipNorm: 0.5, noiseMultiplier: 1.5 } },
  });
  let store = StateStore.open(path, { federationId: "f" });
  const ledger = openDpLedger(plan, store.latestPrivacyLedger()?.state);
  if (!ledger) throw new Error("no ledger");
  const round = ledger.prepare(3, 3);
  const { state } = ledger.settle(round, { accepted: 3, unclippedFraction: 1 });
  const checkpoint = (version: number) => ({
    version,
    round: version,
    path: `/x/${version}`,
    sha256: "0".repeat(64),
    bytes: 1,
    createdAtMs: 0,
  });
  store.recordInitialCheckpoint(checkpoint(0));
  store.startRound({
    round: 1,
    attempt: 1,
    phase: "p",
    modelVersionIn: 0,
    sampled: ["a", "b", "c"],
    startedAtMs: 0,
  });
  store.completeRound({
    round: 1,
    attempt: 1,
    acceptedCount: 3,
    failures: [],
    metrics: {},
    checkpoint: checkpoint(1),
    endedAtMs: 1,
    privacy: { round: 1, state },
  });
  store.close();
  store = StateStore.open(path, { federationId: "f" });
  try {
    const saved = store.latestPrivacyLedger();
    expect(saved).toEqual({ round: 1, state: JSON.parse(JSON.stringify(state)) as DpLedgerState });
    const resumed = openDpLedger(plan, saved?.state);
    expect(resumed?.state.epsilon).toBe(round.epsilonAfter);
    expect(resumed?.prepare(3, 3).epsilonAfter).toBeCloseTo(referenceEpsilon(2, 1.5, 1e-5), 2);
    // A ledger that does not parse stops the federation rather than restart ε from zero.
    expect(() => openDpLedger(plan, { ...state, rounds: -1 })).toThrow(/privacy ledger is unreadable/);
  } finally {
    store.close();
  }
});

it("upgrades a v4 state database to v5 with an empty privacy ledger", () => {
  dir = mkdtempSync(join(tmpdir(), "fl-dp-"));
  const path = join(dir, "state.db");
  StateStore.open(path, { federationId: "f" }).close();
  // As the v4 store left it: no ledger table, schema_version 4.
  const raw = new Database(path);
  raw.exec("DROP TABLE privacy_ledger");
  raw.prepare("UPDATE meta SET value = '4' WHERE key = 'schema_version'").run();
  raw.close();
  const store = StateStore.open(path, { federationId: "f" });
  try {
    expect(store.latestPrivacyLedger()).toBeUndefined();
  } finally {
    store.close();
  }
  const check = new Database(path, { readonly: true });
  expect(check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: "5" });
  expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'privacy_ledger'").get()).toEqual({
    name: "privacy_ledger",
  });
  check.close();
});
