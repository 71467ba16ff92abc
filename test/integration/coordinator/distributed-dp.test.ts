import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { DEFAULT_PRIVACY_POLICY, taskRefusals } from "../../../client/src/privacy-policy.js";
import { sealPayload } from "../../../client/src/seal-update.js";
import { runSecAggSession } from "../../../client/src/secagg-session.js";
import { type Identity, publicIdentity } from "../../../shared/src/crypto/index.js";
import { runUpdateStages } from "../../../shared/src/fl/pipeline.js";
import type { CoordinatorPort } from "../../../shared/src/fl/ports.js";
import { buildPipeline } from "../../../shared/src/fl/stages/index.js";
import type { FlTask } from "../../../shared/src/fl/task.js";
import { createManifest, deserializeWeights } from "../../../shared/src/weights/index.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

/**
 * Distributed DP-FedAvg over the real gRPC service: each site runs the task's client stages (clip
 * to C, its share of the noise) and the production secure-aggregation session; the coordinator
 * unmasks, divides by the cohort and charges the accountant. The test keeps every site's noised
 * input, so it can check the committed mean against their exact sum, and the noise in it against
 * the variance the plan states.
 */

const LENGTH = 100_000;
const SIGMA = 1.5;
const C = 0.5;
const IDS = ["a", "b", "c", "d", "e"];
/** Each site's delta is this constant per coordinate: all far longer than C, so all are clipped. */
const FILL: Record<string, number> = { a: 0.01, b: -0.02, c: 0.03, d: 0.015, e: 0.05 };

let harness: Harness | undefined;
const sites: FakeSite[] = [];
afterEach(async () => {
  for (const site of sites.splice(0)) site.close();
  await harness?.close();
  harness = undefined;
});

/** A site that dies instead of sending its masked input: the stage goes on without it at its timeout. */
async function crashBeforeMaskedInput(): Promise<never> {
  throw new Error("the site crashed before its masked input");
}

function checkpoint(h: Harness, version: number): Float32Array {
  const path = join(h.stateDir, "checkpoints", `model-v${String(version).padStart(5, "0")}.flw`);
  return deserializeWeights(readFileSync(path)).values;
}

it("commits the cohort mean of the clipped updates plus noise of the stated variance, one site dropping", async () => {
  const h = await startHarness({
    siteIds: IDS,
    initial: { manifest: createManifest([{ name: "w", shape: [LENGTH] }]), values: new Float32Array(LENGTH) },
    maxUpdateBytes: 4 << 20,
    plan: {
      phases: [{ name: "p", task: "classify", rounds: 1 }],
      minSites: 3,
      minAvailableSites: IDS.length,
      // Masking 100 000 values takes a while on a loaded machine; e's absence costs one timeout.
      secureAggregation: { stageTimeoutSec: 5 },
      privacy: { dp: { mode: "distributed", clipNorm: C, noiseMultiplier: SIGMA } },
      roundTimeoutSec: 30,
      evaluationTimeoutSec: 1,
    },
  });
  harness = h;
  const joined = await Promise.all(
    IDS.map(async (id) => {
      const site = new FakeSite(h.address, h.sites.get(id) as Identity, publicIdentity(h.coordinator));
      sites.push(site);
      await site.join();
      return site;
    }),
  );
  const inputs = new Map<string, Float32Array>();
  const clipped = new Map<string, number>();
  const outcomes = await Promise.allSettled(
    joined.map(async (site) => {
      const id = site.identity.id;
      const task = await site.nextTask();
      if (task === "done" || task.kind !== "train") throw new Error("expected a training task");
      expect(taskRefusals(DEFAULT_PRIVACY_POLICY, task)).toEqual([]);
      expect(task.spec.privacy).toMatchObject({
        secureAggregation: true,
        cohort: 5,
        dp: { mode: "distributed" },
      });
      const draft = runUpdateStages(
        buildPipeline(task.spec.pipeline).client,
        {
          delta: {
            manifest: createManifest([{ name: "w", shape: [LENGTH] }]),
            values: new Float32Array(LENGTH).fill(FILL[id] as number),
          },
          numExamples: 80,
          metrics: { loss: 1 },
        },
        { siteId: id, round: task.round, phase: task.phase },
      );
      expect(draft.numExamples).toBe(1);
      inputs.set(id, draft.delta.values);
      // Clipped to C: each coordinate of a constant delta becomes ±C/√LENGTH.
      clipped.set(id, (Math.sign(FILL[id] as number) * C) / Math.sqrt(LENGTH));
      return runSecAggSession({
        siteId: id,
        port: site.connection as CoordinatorPort,
        session: site.session,
        task,
        delta: draft.delta.values,
        numExamples: draft.numExamples,
        upload: id === "e" ? crashBeforeMaskedInput : (plaintext) => upload(site, task, plaintext),
        ended: new AbortController().signal,
        log: () => {},
      });
    }),
  );
  const run = await h.run;
  expect(run.status).toBe("completed");
  expect(outcomes.slice(0, 4).map((o) => o.status === "fulfilled" && o.value.kind)).toEqual(
    Array(4).fill("unmasked"),
  );

  const survivors = ["a", "b", "c", "d"];
  // n = 5: degree 4 (all pairs), threshold 3, minSurvivors t = 3. Fixed denominator m = 5.
  const t = 3;
  const m = 5;
  const v1 = checkpoint(h, 1);
  let worstExact = 0;
  let squares = 0;
  let residualSum = 0;
  const signal = survivors.reduce((s, id) => s + (clipped.get(id) as number), 0) / m;
  for (let i = 0; i < LENGTH; i++) {
    const noisedSum = survivors.reduce((s, id) => s + ((inputs.get(id) as Float32Array)[i] as number), 0);
    worstExact = Math.max(worstExact, Math.abs((v1[i] as number) - noisedSum / m));
    const residual = (v1[i] as number) - signal;
    residualSum += residual;
    squares += residual * residual;
  }
  // The unmasked mean is the survivors' noised sum over m, up to the codec's rounding (each of
  // 4 values off by at most half a step of 2^-21 here, over 5) and the float32 stores.
  expect(worstExact).toBeLessThan(1e-6);
  // The noise: 4 shares of (σC)²/t, over m². 100 000 coordinates: the sample variance's relative
  // standard error is √(2/n) ≈ 0.45 %; 4 % is about 9 of them.
  const expectedVariance = (survivors.length * (SIGMA * C) ** 2) / t / m ** 2;
  const mean = residualSum / LENGTH;
  const variance = squares / LENGTH - mean * mean;
  expect(variance / expectedVariance).toBeGreaterThan(0.96);
  expect(variance / expectedVariance).toBeLessThan(1.04);
  expect(Math.abs(mean)).toBeLessThan(0.02 * Math.sqrt(expectedVariance));

  const round = h.store.listRounds().find((r) => r.round === 1);
  expect(round?.status).toBe("completed");
  expect(round?.metrics).toMatchObject({
    accepted: 4,
    "secagg.survivors": 4,
    "privacy.noiseMultiplier": SIGMA,
    "privacy.survivorFloor": t,
    "privacy.cohort": m,
  });
  expect(round?.metrics["privacy.effectiveNoiseMultiplier"]).toBeCloseTo(SIGMA * Math.sqrt(4 / 3), 12);
  expect(round?.metrics["privacy.noiseStd"]).toBeCloseTo(Math.sqrt(expectedVariance), 12);
  expect(round?.metrics["privacy.epsilon"]).toBeGreaterThan(0);
}, 60_000);

async function upload(site: FakeSite, task: FlTask, plaintext: Uint8Array) {
  const sealed = await sealPayload(
    {
      identity: site.identity,
      key: site.session.updateKey,
      federationId: site.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples: 1,
    },
    plaintext,
  );
  return site.upload(sealed);
}
