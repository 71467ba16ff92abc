import { afterEach, expect, it } from "vitest";
import type { PlanInput } from "../../../coordinator/src/plan.js";
import { COMPLETED_EARLY_META } from "../../../coordinator/src/store/records.js";
import { runUpdateStages } from "../../../shared/src/fl/pipeline.js";
import { buildPipeline } from "../../../shared/src/fl/stages/index.js";
import {
  createManifest,
  selectTensors,
  sharingRule,
  withSharing,
} from "../../../shared/src/weights/index.js";
import { InProcessFederation } from "../../helpers/in-process-federation.js";
import type { InProcessSite, TrainTask } from "../../helpers/in-process-site.js";

/**
 * Central DP-FedAvg through a whole (in-process) federation: the sites run the task's client
 * stages as a hospital does, the coordinator re-clips, weighs every update 1, adds the noise and
 * charges the accountant; a restart resumes the ledger, and the budget ends the plan early.
 */

const LENGTH = 30_000;
const Z = 1;
const DELTA = 1e-5;
/** Every site's delta is this constant per coordinate: a's is far longer than C = 1, b's and c's shorter. */
const FILL: Record<string, number> = { a: 0.1, b: 0.001, c: 0.002 };

/** ε of T rounds of the Gaussian mechanism (rate 1) from RDP Tα/(2z²), orders 2…256, CKS 2020 conversion. */
function referenceEpsilon(rounds: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let a = 2; a <= 256; a++)
    best = Math.min(
      best,
      (rounds * a) / (2 * Z * Z) + Math.log1p(-1 / a) - (Math.log(DELTA) + Math.log(a)) / (a - 1),
    );
  return best;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What a hospital does with its delta: the task's client stages (dp-clip's clip), then seal and send. */
async function train(site: InProcessSite, task: TrainTask): Promise<void> {
  const shared = selectTensors(withSharing(site.download(task), sharingRule(task.spec.local)), "shared");
  const delta = {
    manifest: shared.manifest,
    values: new Float32Array(shared.values.length).fill(FILL[site.id] ?? 0),
  };
  const draft = runUpdateStages(
    buildPipeline(task.spec.pipeline).client,
    { delta, numExamples: 50, metrics: { loss: 1 } },
    { siteId: site.id, round: task.round, phase: task.phase },
  );
  expect(await site.upload(site.seal(task, 0, 50, { delta: draft.delta }), { ...draft.metrics })).toEqual({
    accepted: true,
  });
}

async function drive(sites: InProcessSite[]): Promise<TrainTask[]> {
  const tasks: TrainTask[] = [];
  await Promise.all(
    sites.map(async (site) => {
      for (;;) {
        const outcome = await site.pull();
        if (outcome.kind === "done") return;
        if (outcome.kind !== "task") continue;
        if (outcome.task.kind === "train") {
          tasks.push(outcome.task);
          await train(site, outcome.task);
        } else
          site.evaluate(
            outcome.task,
            [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0))),
          );
      }
    }),
  );
  return tasks;
}

it("adds calibrated noise, reports ε per round, resumes the accountant after a restart and stops at the budget", async () => {
  const budget = (referenceEpsilon(2) + referenceEpsilon(3)) / 2;
  const plan: Partial<PlanInput> = {
    minSites: 3,
    evaluateEvery: 0,
    phases: [{ name: "p", task: "classify", rounds: 5 }],
    privacy: { dp: { adaptiveClip: { initialNorm: 1 }, noiseMultiplier: Z, delta: DELTA, budget } },
  };
  const first = InProcessFederation.start({
    siteIds: ["a", "b", "c"],
    plan,
    maxUpdateBytes: 1 << 22,
    initialWeights: () => ({
      manifest: createManifest([{ name: "w", shape: [LENGTH] }]),
      values: new Float32Array(LENGTH),
    }),
  });
  let closed = false;
  cleanups.push(() => (closed ? undefined : first.close()));
  const sites = first.join("a", "b", "c");
  const round1 = await Promise.all(sites.map((site) => site.trainTask()));
  for (const task of round1) {
    expect(task.spec.privacy).toEqual({
      cohort: 3,
      secureAggregation: false,
      dp: {
        mode: "central",
        noiseMultiplier: Z,
        clipNorm: 1,
        delta: DELTA,
        epsilonBefore: 0,
        epsilonAfter: task.spec.privacy.dp?.epsilonAfter,
        epsilonBudget: budget,
      },
    });
    expect(task.spec.privacy.dp?.epsilonAfter).toBeCloseTo(referenceEpsilon(1), 2);
  }
  for (const [i, site] of sites.entries()) await train(site, round1[i] as TrainTask);
  // Round 2 is posted once round 1 commits (uploads are verified off the event loop, so later).
  for (let i = 0; i < 200 && first.store.listRounds().length < 2; i++) await first.settle();
  expect(first.store.lastCompletedRound()).toBe(1);

  // Model v1 − v0 = (clip(Δa) + Δb + Δc) / 3 + N(0, (z_Δ·C/3)²), z_Δ = z/√(1 − 1/16) (adaptive clip's share).
  const step = first.latestModel().values;
  const expectedMean = (1 / Math.sqrt(LENGTH) + FILL.b! + FILL.c!) / 3;
  const expectedStd = Z / Math.sqrt(1 - 1 / 16) / 3;
  let sum = 0;
  let squares = 0;
  for (const v of step) {
    sum += v - expectedMean;
    squares += (v - expectedMean) ** 2;
  }
  expect(Math.abs(Math.sqrt(squares / LENGTH) / expectedStd - 1)).toBeLessThan(0.03);
  // Without a's clip the mean would be off by 0.031, 16 standard errors.
  expect(Math.abs(sum / LENGTH)).toBeLessThan((5 * expectedStd) / Math.sqrt(LENGTH));
  const [r1] = first.store.listRounds();
  expect(r1?.metrics["privacy.epsilon"]).toBeCloseTo(referenceEpsilon(1), 2);
  expect(r1?.metrics["privacy.delta"]).toBe(DELTA);
  expect(r1?.metrics["privacy.clipNorm"]).toBe(1);
  expect(r1?.metrics["privacy.noiseMultiplier"]).toBe(Z);
  // The exact count of unclipped sites never leaves the coordinator; only its noised fraction does.
  expect(r1?.metrics["train.dp.unclipped"]).toBeUndefined();
  expect(r1?.metrics["privacy.unclippedFraction"]).toEqual(expect.any(Number));
  const nextClip = r1?.metrics["privacy.nextClipNorm"];

  const second = await first.restart();
  closed = true;
  cleanups.push(() => second.close());
  const tasks = await drive(second.join("a", "b", "c"));
  const result = await second.run;
  // Round 2 went on from round 1's ε and clip norm; round 3 would pass the budget and never ran.
  expect(tasks.map((t) => t.round)).toEqual([2, 2, 2]);
  expect(tasks[0]?.spec.privacy.dp?.epsilonBefore).toBe(r1?.metrics["privacy.epsilon"]);
  expect(tasks[0]?.spec.privacy.dp?.clipNorm).toBe(nextClip);
  expect(result.status).toBe("completed");
  expect(result.reason).toMatch(/the privacy budget ε [\d.]+ would be exceeded by round 3/);
  expect(second.store.getMeta(COMPLETED_EARLY_META)).toBe(result.reason);
  const rounds = second.store.listRounds();
  // The first coordinator had posted round 2 when it stopped: that attempt released nothing and
  // is charged nothing (ε after the completed round 2 is that of two rounds).
  expect(rounds.map((r) => [r.round, r.status])).toEqual([
    [1, "completed"],
    [2, "aborted"],
    [2, "completed"],
  ]);
  expect(rounds[2]?.metrics["privacy.epsilon"]).toBeCloseTo(referenceEpsilon(2), 2);
  expect(rounds[2]?.metrics["privacy.epsilon"]).toBeLessThanOrEqual(budget);
  // The last committed model is evaluated as the final one, and the end is announced with its reason.
  expect(
    second.store
      .listEvaluations(2)
      .map((e) => e.siteId)
      .sort(),
  ).toEqual(["a", "b", "c"]);
  const completed = second.events.find((e) => e.type === "federation.completed");
  expect(completed?.data).toMatchObject({ rounds: 2, reason: result.reason, privacy: { delta: DELTA } });
});

it("still learns a toy problem at ε = 3 when the cohort is large (60 sites), the regime DP-FedAvg is made for", async () => {
  // Each site pulls the model towards its own target (the shared target plus a little site noise);
  // with 60 sites the noise on the mean, z·C/60, is small enough for the model to get there.
  const SITES = 60;
  const DIM = 8;
  const target = [2, -1, 0.5, 3, -2, 1, 0, -0.5];
  const siteIds = Array.from({ length: SITES }, (_, i) => `s${String(i).padStart(2, "0")}`);
  const siteTarget = new Map(
    siteIds.map((id, k) => [id, target.map((t, j) => t + 0.1 * Math.sin(7 * k + j))]),
  );
  const fed = InProcessFederation.start({
    siteIds,
    plan: {
      minSites: SITES,
      evaluateEvery: 0,
      // 10 rounds: a site may open 10 uploads back to back, and this clock does not refill the bucket.
      phases: [{ name: "p", task: "classify", rounds: 10 }],
      privacy: { dp: { clipNorm: 1, targetEpsilon: 3, delta: DELTA } },
    },
    initialWeights: () => ({
      manifest: createManifest([{ name: "w", shape: [DIM] }]),
      values: new Float32Array(DIM),
    }),
  });
  cleanups.push(() => fed.close());
  await Promise.all(
    fed.join(...siteIds).map(async (site) => {
      for (;;) {
        const outcome = await site.pull();
        if (outcome.kind === "done") return;
        if (outcome.kind !== "task") continue;
        const task = outcome.task;
        if (task.kind !== "train") {
          site.evaluate(
            task,
            [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0))),
          );
          continue;
        }
        const global = site.download(task).values;
        const own = siteTarget.get(site.id) as number[];
        const delta = {
          manifest: createManifest([{ name: "w", shape: [DIM] }]),
          values: Float32Array.from(own, (t, j) => 0.5 * (t - (global[j] as number))),
        };
        const draft = runUpdateStages(
          buildPipeline(task.spec.pipeline).client,
          { delta, numExamples: 10, metrics: { loss: 1 } },
          { siteId: site.id, round: task.round, phase: task.phase },
        );
        expect(
          await site.upload(site.seal(task, 0, 10, { delta: draft.delta }), { ...draft.metrics }),
        ).toEqual({
          accepted: true,
        });
      }
    }),
  );
  expect((await fed.run).status).toBe("completed");
  const rounds = fed.store.listRounds();
  expect(rounds).toHaveLength(10);
  const epsilon = rounds.at(-1)?.metrics["privacy.epsilon"] as number;
  expect(epsilon).toBeLessThanOrEqual(3);
  expect(epsilon).toBeGreaterThan(2.9);
  const z = rounds[0]?.metrics["privacy.noiseMultiplier"] as number;
  const w = fed.latestModel().values;
  const error = Math.hypot(...target.map((t, j) => (w[j] as number) - t));
  // Stationary error of w ← w + ½(t − w) + N(0, (z/60)²): std z/60/√(1 − ¼) per coordinate, about
  // 0.3 in norm at z ≈ 5.5 (reported below); 1.15 is a quarter of the distance it started from.
  expect(error, `final error ${error} at z ${z}`).toBeLessThan(0.25 * Math.hypot(...target));
});
