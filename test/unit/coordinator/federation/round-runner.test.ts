import { afterEach, describe, expect, it } from "vitest";
import { sampleSites } from "../../../../coordinator/src/sampling.js";
import type { ModelSpec } from "../../../../shared/src/fl/model-spec.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

const ACCEPTED = { accepted: true };
const plus = (...deltas: number[]) =>
  [1, 2, 3, 4, 5, 6].map((v) => deltas.reduce((x, d) => Math.fround(x + Math.fround(d)), v));

describe("rounds", () => {
  it("aggregates two rounds with FedAvg weighted by example counts (hand-computed)", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a", "b", "c"],
      plan: { phases: [{ name: "p", task: "classify", rounds: 2 }] },
    });
    const [a, b, c] = fed.join("a", "b", "c");
    // Round 1: (10·1 + 30·2 + 60·4) / 100 = 3.1; round 2: (1·−1 + 1·0 + 2·1) / 4 = 0.25.
    expect(await Promise.all([a!.train(1, 10), b!.train(2, 30), c!.train(4, 60)])).toEqual([
      ACCEPTED,
      ACCEPTED,
      ACCEPTED,
    ]);
    expect(await Promise.all([a!.train(-1, 1), b!.train(0, 1), c!.train(1, 2)])).toEqual([
      ACCEPTED,
      ACCEPTED,
      ACCEPTED,
    ]);
    await fed.evaluateAll([a!, b!, c!]);
    expect(await fed.run).toEqual({ status: "completed", reason: "the plan is complete" });
    expect(fed.store.latestCheckpoint()?.version).toBe(2);
    expect(Array.from(fed.latestModel().values)).toEqual(plus(3.1, 0.25));
    const [first] = fed.store.listRounds();
    expect(first?.metrics).toEqual({
      "train.loss": 1,
      totalExamples: 100,
      updateNorm: expect.closeTo(Math.sqrt(6) * 3.1, 5),
      accepted: 3,
    });
    expect(fed.events.filter((e) => e.type === "round.completed")).toHaveLength(2);
  });

  it("sends each site the typed task of its phase, with the round's seed", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a"],
      plan: {
        seed: 5,
        minSites: 1,
        phases: [
          {
            name: "p",
            task: "classify",
            rounds: 2,
            local: ["b"],
            labelFraction: 0.5,
            pipeline: [{ stage: "clip-l2", maxNorm: 2 }],
          },
        ],
      },
    });
    const [a] = fed.join("a");
    const task = await a!.trainTask();
    expect(task).toMatchObject({ taskId: "task-1", round: 1, phase: "p", modelVersion: 0, kind: "train" });
    expect(task.spec).toMatchObject({
      task: "classify",
      seed: 5 * 100_003 + 1,
      roundInPhase: 1,
      phaseRounds: 2,
      local: ["b"],
      labelFraction: 0.5,
      options: { augment: true },
      pipeline: [{ stage: "clip-l2", maxNorm: 2 }],
    });
    expect(await a!.upload(a!.seal(task, 1, 1))).toEqual(ACCEPTED);
    expect((await a!.trainTask()).spec).toMatchObject({ seed: 5 * 100_003 + 2, roundInPhase: 2 });
  });

  it("samples max(minSites, ⌈fraction × connected⌉) sites reproducibly and gives the others no task", async () => {
    const ids = ["a", "b", "c", "d", "e"];
    fed = InProcessFederation.start({
      siteIds: ids,
      plan: { seed: 7, minSites: 1, minAvailableSites: 5, fraction: 0.5 },
    });
    const sites = fed.join(...ids);
    await fed.settle();
    const expected = sampleSites(ids, { fraction: 0.5, minSites: 1, seed: 7, round: 1, attempt: 1 });
    expect(expected).toHaveLength(3);
    expect(fed.store.listRounds()[0]?.sampled).toEqual(expected);
    for (const site of sites) {
      const outcome = await site.pull(0);
      expect(outcome.kind).toBe(expected.includes(site.id) ? "task" : "wait");
    }
  });
});

describe("retries and failures", () => {
  it("fails an attempt at its deadline and tries the round again, counting only the new attempt", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a", "b"],
      plan: { maxRoundAttempts: 2, roundTimeoutSec: 60 },
    });
    const [a, b] = fed.join("a", "b");
    expect(await a!.train(100, 1)).toEqual(ACCEPTED);
    const stuck = await b!.trainTask();
    await fed.clock.advance(60_000);
    expect(fed.store.listRounds().map((r) => [r.attempt, r.status])).toEqual([
      [1, "failed"],
      [2, "running"],
    ]);
    expect(fed.store.listRounds()[0]?.failures).toEqual([
      { siteId: "b", reason: "no result before the deadline (still working)" },
    ]);
    // The stale task of attempt 1 is gone; attempt 2 hands out new ones.
    expect(b!.heartbeat(stuck)).toEqual({ taskActive: false });
    expect(await Promise.all([a!.train(1, 1), b!.train(3, 1)])).toEqual([ACCEPTED, ACCEPTED]);
    await fed.evaluateAll([a!, b!]);
    expect((await fed.run).status).toBe("completed");
    expect(Array.from(fed.latestModel().values)).toEqual(plus(2));
    expect(fed.events.filter((e) => e.type === "round.failed")).toHaveLength(1);
  });

  it("gives up after maxRoundAttempts and tells waiting sites the federation failed", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { maxRoundAttempts: 1 } });
    const [a] = fed.join("a", "b");
    await a!.trainTask();
    await fed.clock.advance(60_000);
    // Each site's first failure is in the reason, so the console says why without a site's log.
    const why =
      "only 0 of the required 2 updates arrived: a: no result before the deadline (still working); b: no result before the deadline (task never picked up)";
    const reason = `round 1 failed 1 times: ${why}`;
    expect(await fed.run).toEqual({ status: "failed", reason });
    expect(fed.events.find((e) => e.type === "round.failed")?.data.reason).toBe(why);
    expect(fed.store.listRounds()[0]?.failures.map((f) => f.reason)).toEqual([
      "no result before the deadline (still working)",
      "no result before the deadline (task never picked up)",
    ]);
    expect(await a!.pull()).toEqual({ kind: "done", reason: `the federation failed: ${reason}` });
  });

  it("waits for minAvailableSites before sampling", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a", "b", "c"],
      plan: { minSites: 1, minAvailableSites: 3 },
    });
    fed.join("a", "b");
    await fed.clock.advance(5_000);
    expect(fed.store.listRounds()).toEqual([]);
    expect(fed.logs).toContain("waiting for sites: 2 connected, 3 needed");
    fed.join("c");
    await fed.settle();
    expect(fed.store.listRounds()[0]?.sampled).toEqual(["a", "b", "c"]);
  });
});

describe("phases", () => {
  const model: ModelSpec = {
    architecture: "unet-multitask",
    encoder: "tiny",
    imageSize: 64,
    numClasses: 4,
    seed: 1,
    projectionDim: 128,
    phase: "multitask",
  };
  /** Each network's seeded initial weights: the encoder is shared by name, the heads differ. */
  function initialWeights(spec: ModelSpec): ModelWeights {
    const heads =
      spec.architecture === "unet-multitask" && spec.phase === "moco"
        ? [{ name: "proj", shape: [1], value: 9 }]
        : [{ name: "cls", shape: [2], value: 7 }];
    const tensors = [{ name: "enc", shape: [2], value: 0.5 }, ...heads];
    return {
      manifest: createManifest(tensors.map(({ name, shape }) => ({ name, shape }))),
      values: Float32Array.from(tensors.flatMap((t) => Array(t.shape[0]).fill(t.value))),
    };
  }

  it("enters each phase once: the phase's network, trained tensors carried over, re-initialised ones fresh", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a"],
      model,
      initialWeights,
      plan: {
        minSites: 1,
        phases: [
          { name: "pre", task: "moco", rounds: 1 },
          { name: "fine", task: "classify", rounds: 2 },
          { name: "head", task: "classify", rounds: 1, reinitialize: ["cls"] },
        ],
      },
    });
    const [a] = fed.join("a");
    const seen: Array<[string, number, string | undefined, number[]]> = [];
    for (const delta of [1, 1, 1, 0]) {
      const task = await a!.trainTask();
      seen.push([
        task.phase,
        task.modelVersion,
        modelPhase(task.spec.model),
        Array.from(a!.download(task).values),
      ]);
      expect(await a!.upload(a!.seal(task, delta, 1))).toEqual(ACCEPTED);
    }
    await fed.evaluateAll([a!]);
    expect((await fed.run).status).toBe("completed");
    expect(seen).toEqual([
      // v0 is the first phase's network; entering it changes nothing, so no new version.
      ["pre", 0, "moco", [0.5, 0.5, 9]],
      // Entering "fine" (v2): enc carried from v1, the classifier head fresh.
      ["fine", 2, "multitask", [1.5, 1.5, 7, 7]],
      // Its second round is no phase entry.
      ["fine", 3, "multitask", [2.5, 2.5, 8, 8]],
      // Entering "head" (v5) resets cls even though it exists with the same shape.
      ["head", 5, "multitask", [3.5, 3.5, 7, 7]],
    ]);
    expect(["pre", "fine", "head"].map((p) => fed!.store.getMeta(`phase.entered.${p}`))).toEqual([
      "0",
      "2",
      "5",
    ]);
    expect(fed.store.latestCheckpoint()?.version).toBe(6);
  });

  it("evaluates only after phases whose kind evaluates", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a"],
      model,
      initialWeights,
      plan: { minSites: 1, evaluateEvery: 1, phases: [{ name: "pre", task: "moco", rounds: 2 }] },
    });
    const [a] = fed.join("a");
    expect(await a!.train(1, 1)).toEqual(ACCEPTED);
    expect(await a!.train(1, 1)).toEqual(ACCEPTED);
    expect((await fed.run).status).toBe("completed");
    expect(fed.events.some((e) => e.type === "evaluation.completed")).toBe(false);
  });
});

describe("resume", () => {
  it("continues from the last committed round with the server optimiser's state restored", async () => {
    const plan = {
      minSites: 1,
      strategy: { name: "fedavgm" as const, momentum: 0.9, serverLearningRate: 1 },
      phases: [{ name: "p", task: "classify" as const, rounds: 3 }],
    };
    const first = InProcessFederation.start({ siteIds: ["a"], plan });
    fed = first;
    const [a] = first.join("a");
    // FedAvgM: m₁ = 1, x₁ = x₀ + 1.
    expect(await a!.train(1, 1)).toEqual(ACCEPTED);
    await a!.trainTask();
    // The coordinator dies with round 2 open; a second one resumes over the same state.
    fed = await first.restart();
    expect(fed.store.listRounds().map((r) => [r.round, r.attempt, r.status])).toEqual([
      [1, 1, "completed"],
      [2, 1, "aborted"],
    ]);
    const [again] = fed.join("a");
    // m₂ = 0.9·1 + 1 = 1.9 (not 1: the momentum was restored); m₃ = 0.9·1.9 + 0 = 1.71.
    expect(await again!.train(1, 1)).toEqual(ACCEPTED);
    expect(await again!.train(0, 1)).toEqual(ACCEPTED);
    await fed.evaluateAll([again!]);
    expect((await fed.run).status).toBe("completed");
    expect(fed.logs).toContain("restored fedavgm state (1 steps) from model v1");
    expect(fed.events.find((e) => e.type === "federation.started")?.data).toMatchObject({
      resumedAfterRound: 1,
      modelVersion: 1,
    });
    const expected = [1, 2, 3, 4, 5, 6].map((v) => v + 1 + 1.9 + 1.71);
    for (const [i, v] of fed.latestModel().values.entries()) expect(v).toBeCloseTo(expected[i]!, 5);
    expect(fed.store.listRounds().map((r) => [r.round, r.attempt, r.status])).toEqual([
      [1, 1, "completed"],
      [2, 1, "aborted"],
      [2, 2, "completed"],
      [3, 1, "completed"],
    ]);
  });
});

function modelPhase(spec: ModelSpec): string | undefined {
  return spec.architecture === "unet-multitask" ? spec.phase : undefined;
}
