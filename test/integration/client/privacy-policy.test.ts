import { afterEach, describe, expect, it } from "vitest";
import { SiteNode } from "../../../client/src/node.js";
import { type PrivacyPolicyInput, PrivacyPolicySchema } from "../../../client/src/privacy-policy.js";
import type { EvaluateOutcome, SiteTrainer } from "../../../client/src/training/trainer.js";
import { unlimitedSlots } from "../../../client/src/training-slots.js";
import { GrpcCoordinatorPort } from "../../../client/src/transport/grpc/coordinator-client.js";
import type { PlanInput } from "../../../coordinator/src/plan.js";
import { publicIdentity, toBase64 } from "../../../shared/src/crypto/index.js";
import { RdpAccountant } from "../../../shared/src/privacy/rdp-accountant.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";

/**
 * Hospitals with a privacy policy against a real coordinator (gRPC on port 0, SQLite in a temp
 * folder): a refused task reaches the coordinator's record with the site's reason, and the site
 * sends nothing else for it; what a policy lets out is exactly what the coordinator stores.
 */

let harness: Harness | undefined;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await harness?.close();
  harness = undefined;
});

/** A trainer that adds 1 to every weight and reports a fixed evaluation; it counts its calls. */
class CountingTrainer implements SiteTrainer {
  trained = 0;
  evaluated = 0;

  async train(_task: unknown, weights: { manifest: never; values: Float32Array }) {
    this.trained++;
    return {
      weights: { manifest: weights.manifest, values: weights.values.map((v) => v + 1) },
      numExamples: 4,
      metrics: { loss: 0.5, accuracy: 0.75 },
    };
  }

  async evaluate(): Promise<EvaluateOutcome> {
    this.evaluated++;
    return {
      confusion: [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0))),
      numExamples: 4,
      metrics: { accuracy: 1, macroF1: 1, "seg.images": 4, "seg.diceSum": 3 },
    };
  }
}

interface Site {
  readonly trainer: CountingTrainer;
  readonly lines: string[];
  readonly done: Promise<{ reason: string }>;
}

function startSite(h: Harness, id: string, policy: PrivacyPolicyInput = {}): Site {
  const port = new GrpcCoordinatorPort(h.address, "insecure");
  const trainer = new CountingTrainer();
  const lines: string[] = [];
  const node = new SiteNode({
    identity: h.sites.get(id)!,
    coordinator: publicIdentity(h.coordinator),
    federationId: "test",
    port,
    trainer: trainer as unknown as SiteTrainer,
    slots: unlimitedSlots,
    siteInfo: {
      trainClassCounts: [1, 1, 1, 1],
      trainUnlabelledCount: 0,
      validationCount: 0,
      testCount: 4,
      backend: "test",
      clientVersion: "test",
    },
    reconnectTimeoutMs: 5000,
    log: (line) => lines.push(line),
    privacy: PrivacyPolicySchema.parse(policy),
  });
  closers.push(() => {
    node.stop();
    port.close();
  });
  return { trainer, lines, done: node.run() };
}

/** One round that commits with one update, once both sites are connected (so both are sampled). */
const ONE_ROUND: Partial<PlanInput> = {
  phases: [{ name: "p", task: "classify", rounds: 1 }],
  minSites: 1,
  minAvailableSites: 2,
};

const PREFIX = "the site gave up: FL_FAILED_PRECONDITION: refused by this site's privacy policy: ";

/** Runs the federation to its end (both sites see "done"), within the test's time. */
async function finish(h: Harness, ...sites: Site[]) {
  const result = await h.run;
  await Promise.all(sites.map((s) => s.done));
  return result;
}

describe("a site's privacy policy against a real coordinator", () => {
  it("refuses a round whose cohort is below its minimum: the coordinator records why, the site sent nothing", async () => {
    harness = await startHarness({ siteIds: ["a", "b"], plan: ONE_ROUND });
    const a = startSite(harness, "a", { minCohort: 3 });
    const b = startSite(harness, "b");

    expect((await finish(harness, a, b)).status).toBe("completed");

    const [round] = harness.store.listRounds();
    expect(round?.status).toBe("completed");
    expect(round?.sampled).toEqual(["a", "b"]);
    expect(round?.failures).toEqual([
      {
        siteId: "a",
        reason: `${PREFIX}the round's cohort is 2 sites; this site joins only rounds of at least 3 (privacy.minCohort)`,
      },
    ]);
    // No update, hence no training metrics, from the refusing site; its data was never read.
    expect(harness.store.listUpdates().map((u) => u.siteId)).toEqual(["b"]);
    expect(a.trainer.trained).toBe(0);
    expect(b.trainer.trained).toBe(1);
    expect(a.lines.some((l) => l.includes("refused by this site's privacy policy"))).toBe(true);
  });

  it("refuses a task that would upload a tensor outside its share list", async () => {
    // tinyWeights has tensors w and b; this site shares only w.
    harness = await startHarness({ siteIds: ["a", "b"], plan: ONE_ROUND });
    const a = startSite(harness, "a", { share: ["w"] });
    const b = startSite(harness, "b", { share: ["?"] });

    await finish(harness, a, b);

    const [round] = harness.store.listRounds();
    expect(round?.failures).toEqual([
      {
        siteId: "a",
        reason: `${PREFIX}the task would upload 1 tensor outside this site's share list (privacy.share: ["w"]): b`,
      },
    ]);
    expect(harness.store.listUpdates().map((u) => u.siteId)).toEqual(["b"]);
    expect(a.trainer.trained).toBe(0);
  });

  it("refuses a DP round that would take ε past its maximum", async () => {
    const dp = { mode: "central" as const, clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 };
    harness = await startHarness({
      siteIds: ["a", "b"],
      plan: { ...ONE_ROUND, privacy: { dp } },
    });
    const a = startSite(harness, "a", { requireDp: true, maxEpsilon: 0.5 });
    const b = startSite(harness, "b", { requireDp: true, maxEpsilon: 1000 });

    await finish(harness, a, b);

    // Both sites are in every round (rate 1): one step of the Gaussian mechanism at z = 1.
    const epsilon = new RdpAccountant().epsilonAfter(1, 1, 1, 1e-5);
    const [round] = harness.store.listRounds();
    expect(round?.failures).toHaveLength(1);
    const reason = round?.failures[0]?.reason ?? "";
    const match =
      /^the site gave up: FL_FAILED_PRECONDITION: refused by this site's privacy policy: the round would bring ε to ([0-9.]+) \(δ = 0\.00001\); this site allows at most 0\.5 \(privacy\.maxEpsilon\)$/.exec(
        reason,
      );
    expect(match, reason).not.toBeNull();
    expect(Number(match?.[1])).toBeCloseTo(epsilon, 2);
    expect(round?.failures[0]?.siteId).toBe("a");
    expect(harness.store.listUpdates().map((u) => u.siteId)).toEqual(["b"]);
    expect(a.trainer.trained).toBe(0);
  });

  it("declares noised or no class counts at join, and the coordinator still accepts the sites' updates", async () => {
    harness = await startHarness({ siteIds: ["a", "b"], plan: ONE_ROUND });
    // The store keeps what a site declares at join on its enrolment row.
    for (const [siteId, identity] of harness.sites)
      harness.store.upsertSite({
        siteId,
        signingPublicKey: toBase64(identity.signing.publicKey),
        encryptionPublicKey: toBase64(identity.encryption.publicKey),
      });
    const a = startSite(harness, "a", { classCounts: "none" });
    const b = startSite(harness, "b", { classCounts: "noised", classCountSigma: 2 });

    await finish(harness, a, b);

    const info = Object.fromEntries(harness.store.listSites().map((s) => [s.siteId, s.info]));
    // a's 4 labelled images become one uncounted total.
    expect(info.a).toMatchObject({ trainClassCounts: [], trainUnlabelledCount: 4 });
    const counts = info.b?.trainClassCounts as number[];
    expect(counts).toHaveLength(4);
    expect(counts.every((n) => Number.isSafeInteger(n) && n >= 0)).toBe(true);
    expect(
      counts.reduce((x, y) => x + y, 0) + (info.b?.trainUnlabelledCount as number),
    ).toBeGreaterThanOrEqual(4);
    // Each update claims its 4 examples, within what the site declared: both are accepted.
    expect(
      harness.store
        .listUpdates()
        .map((u) => [u.siteId, u.status])
        .sort(),
    ).toEqual([
      ["a", "accepted"],
      ["b", "accepted"],
    ]);
  });

  it("stores exactly the metrics each policy lets out: loss only, none, pooled evaluation, no evaluation", async () => {
    harness = await startHarness({
      siteIds: ["a", "b"],
      plan: { phases: [{ name: "p", task: "classify", rounds: 1 }], minSites: 2 },
    });
    const a = startSite(harness, "a", { trainingMetrics: "loss", evaluation: "pooled" });
    const b = startSite(harness, "b", { trainingMetrics: "none", evaluation: "none" });

    await finish(harness, a, b);

    const updates = Object.fromEntries(harness.store.listUpdates().map((u) => [u.siteId, u.trainMetrics]));
    expect(updates).toEqual({ a: { loss: 0.5 }, b: {} });
    const [round] = harness.store.listRounds();
    expect(round?.metrics["train.loss"]).toBe(0.5);
    expect(round?.metrics["train.accuracy"]).toBeUndefined();

    // The plan's end evaluates the final model: a sends only what is pooled, b refuses.
    const version = harness.store.latestCheckpoint()?.version ?? -1;
    const evaluations = harness.store.listEvaluations(version);
    expect(evaluations.map((e) => [e.siteId, e.metrics])).toEqual([
      ["a", { "seg.images": 4, "seg.diceSum": 3 }],
    ]);
    expect(evaluations[0]?.confusion).toEqual(
      [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0))),
    );
    expect(b.trainer.evaluated).toBe(0);
    const run = harness.store.evaluationRun(version);
    expect(run?.failures).toContainEqual({
      siteId: "b",
      reason: `${PREFIX}this site reports no evaluations (privacy.evaluation: none)`,
    });
  });
});
