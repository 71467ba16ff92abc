import { afterEach, describe, expect, it } from "vitest";
import {
  CENTRAL_SITE_ID,
  type CentralEvaluator,
  type CentralOutcome,
  centralEvaluationDue,
  centralFailureKey,
} from "../../../../coordinator/src/central-evaluation.js";
import { type PlanInput, PlanSchema } from "../../../../coordinator/src/plan.js";
import type { EvaluateTask } from "../../../../shared/src/fl/task.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";
import type { InProcessSite } from "../../../helpers/in-process-site.js";

let feds: InProcessFederation[] = [];

afterEach(async () => {
  // A restarted federation shares its folder with the first; closing the last removes it.
  for (const fed of feds.reverse()) await fed.close().catch(() => {});
  feds = [];
});

function plan(input: Partial<PlanInput>) {
  return PlanSchema.parse({ phases: [{ name: "p", task: "classify", rounds: 5 }], ...input });
}

describe("centralEvaluationDue", () => {
  it("follows the federated evaluation by default, and `every` plus the last round otherwise", () => {
    const rounds = [1, 2, 3, 4, 5];
    const p = plan({ evaluateEvery: 2 });
    expect(rounds.filter((r) => centralEvaluationDue(p, r, undefined))).toEqual([2, 4, 5]);
    expect(rounds.filter((r) => centralEvaluationDue(p, r, 3))).toEqual([3, 5]);
    expect(rounds.filter((r) => centralEvaluationDue(plan({ evaluateEvery: 0 }), r, undefined))).toEqual([5]);
  });

  it("skips phases that have no classification head (self-supervised pre-training)", () => {
    const p = plan({
      evaluateEvery: 1,
      phases: [
        { name: "pre", task: "moco", rounds: 2 },
        { name: "fine", task: "classify", rounds: 2 },
      ],
    });
    expect([1, 2, 3, 4].filter((r) => centralEvaluationDue(p, r, undefined))).toEqual([3, 4]);
    expect([1, 2, 3, 4].filter((r) => centralEvaluationDue(p, r, 1))).toEqual([3, 4]);
  });
});

/** 9 images, 6 right: distinct from anything a site reports here. */
const CENTRAL_CONFUSION = [
  [2, 1, 0, 0],
  [0, 2, 1, 0],
  [0, 0, 1, 1],
  [0, 0, 0, 1],
];
const SITE_CONFUSION = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));

interface Call {
  readonly task: EvaluateTask;
  readonly weights: ModelWeights;
}

/** A scorer with fixed answers; `answer` decides each call's outcome (default: CENTRAL_CONFUSION). */
function fakeEvaluator(
  answer?: (call: Call) => Promise<CentralOutcome>,
): CentralEvaluator & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    evaluate(task, weights) {
      const call = { task, weights };
      calls.push(call);
      return answer
        ? answer(call)
        : Promise.resolve({ confusion: CENTRAL_CONFUSION, numExamples: 9, metrics: { macroAuc: 0.75 } });
    },
  };
}

const TWO_ROUNDS: Partial<PlanInput> = {
  minSites: 2,
  evaluateEvery: 1,
  phases: [{ name: "p", task: "classify", rounds: 2 }],
};

/** Both sites train with `fill` and report SITE_CONFUSION until the plan ends. */
async function drive(fed: InProcessFederation, sites: InProcessSite[]): Promise<void> {
  await Promise.all(
    sites.map(async (site) => {
      for (;;) {
        const outcome = await site.pull();
        if (outcome.kind === "done") return;
        if (outcome.kind !== "task") continue;
        if (outcome.task.kind === "train")
          expect(await site.upload(site.seal(outcome.task, 0.5, 1))).toEqual({ accepted: true });
        else site.evaluate(outcome.task, SITE_CONFUSION);
      }
    }),
  );
  expect((await fed.run).status).toBe("completed");
}

describe("central evaluation in the round runner", () => {
  it("scores each evaluated version's weights and records them as site @central, apart from the sites", async () => {
    const evaluator = fakeEvaluator();
    const fed = InProcessFederation.start({
      siteIds: ["a", "b"],
      plan: TWO_ROUNDS,
      central: { evaluator, schedule: { split: "val" } },
    });
    feds.push(fed);
    await drive(fed, fed.join("a", "b"));

    // The sites' task, on the split the central set is configured with.
    expect(evaluator.calls.map((c) => c.task)).toMatchObject([
      { model: fed.setup.model ?? {}, split: "val", task: "classify" },
      { split: "val", task: "classify" },
    ]);
    // Each call got the weights of the version it scored: the committed checkpoints.
    for (const [i, version] of [1, 2].entries()) {
      const record = fed.store.checkpoint(version);
      expect(record).toBeDefined();
      const { CheckpointFiles } = await import("../../../../coordinator/src/store/checkpoints.js");
      const expected = new CheckpointFiles(`${fed.stateDir}/checkpoints`).read(record!).weights;
      expect(Array.from(evaluator.calls[i]!.weights.values)).toEqual(Array.from(expected.values));
    }
    for (const version of [1, 2]) {
      const central = fed.store.listEvaluations(version).filter((e) => e.siteId === CENTRAL_SITE_ID);
      expect(central).toHaveLength(1);
      expect(central[0]).toMatchObject({
        round: version,
        split: "val",
        numExamples: 9,
        confusion: CENTRAL_CONFUSION,
        metrics: { macroAuc: 0.75 },
      });
      // The federated run expects the sites only: "@central" is no site to wait for or ask again.
      expect(fed.store.evaluationRun(version)?.expected).toEqual(["a", "b"]);
    }
    expect(
      fed.logs.some((l) => /central evaluation of model v2 \(val split, 9 images\): accuracy 0\.667/.test(l)),
    ).toBe(true);
  });

  it("logs and records a failure without failing the round or the plan", async () => {
    const evaluator = fakeEvaluator(() => Promise.reject(new Error("the central set's folder is gone")));
    const fed = InProcessFederation.start({
      siteIds: ["a", "b"],
      plan: TWO_ROUNDS,
      central: { evaluator, schedule: { split: "test" } },
    });
    feds.push(fed);
    await drive(fed, fed.join("a", "b"));
    expect(fed.store.listRounds().map((r) => r.status)).toEqual(["completed", "completed"]);
    expect(fed.store.listEvaluations().filter((e) => e.siteId === CENTRAL_SITE_ID)).toEqual([]);
    const failure = JSON.parse(fed.store.getMeta(centralFailureKey(2)) ?? "null");
    expect(failure).toMatchObject({ round: 2, reason: "the central set's folder is gone" });
    expect(fed.logs).toContain(
      "central evaluation of model v1 failed: the central set's folder is gone; the federation goes on without it",
    );
  });

  it("refuses an outcome whose confusion matrix does not add up, as a failure", async () => {
    const evaluator = fakeEvaluator(() =>
      Promise.resolve({ confusion: CENTRAL_CONFUSION, numExamples: 10, metrics: {} }),
    );
    const fed = InProcessFederation.start({
      siteIds: ["a", "b"],
      plan: { ...TWO_ROUNDS, phases: [{ name: "p", task: "classify", rounds: 1 }] },
      central: { evaluator, schedule: { split: "test" } },
    });
    feds.push(fed);
    await drive(fed, fed.join("a", "b"));
    expect(fed.store.getMeta(centralFailureKey(1))).toContain(
      "summing to 9; expected 4x4 integer counts summing to 10",
    );
  });

  it("scores on resume a due version that has no central record, and does not wait for one when stopped", async () => {
    // The first coordinator's scorer never answers: it is stopped while waiting after round 1.
    const hanging = fakeEvaluator(() => new Promise<never>(() => {}));
    const first = InProcessFederation.start({
      siteIds: ["a", "b"],
      plan: TWO_ROUNDS,
      central: { evaluator: hanging, schedule: { split: "test" } },
    });
    feds.push(first);
    const [a, b] = first.join("a", "b");
    await Promise.all([a!.train(0.5, 1), b!.train(0.5, 1)]);
    a!.evaluate(await a!.evaluateTask(), SITE_CONFUSION);
    b!.evaluate(await b!.evaluateTask(), SITE_CONFUSION);
    await first.settle();
    expect(hanging.calls).toHaveLength(1);
    expect(first.store.evaluationRun(1)?.settledAtMs).not.toBeNull();

    const evaluator = fakeEvaluator();
    const second = await restartWith(first, evaluator);
    feds.push(second);
    await drive(second, second.join("a", "b"));
    // v1 scored by the second coordinator on resume (before round 2), then v2 after round 2.
    expect(evaluator.calls).toHaveLength(2);
    expect(
      second.store
        .listEvaluations()
        .filter((e) => e.siteId === CENTRAL_SITE_ID)
        .map((e) => [e.modelVersion, e.round]),
    ).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(second.logs).toContain("model v1 has no central evaluation yet: scoring it now");
    // The sites' evaluation of v1 was complete: it is not asked for again.
    expect(second.store.listEvaluations(1).filter((e) => e.siteId !== CENTRAL_SITE_ID)).toHaveLength(2);
  });
});

/** InProcessFederation.restart() with another central scorer (a new coordinator process would start a new one). */
async function restartWith(
  fed: InProcessFederation,
  evaluator: CentralEvaluator,
): Promise<InProcessFederation> {
  const setup = fed.setup;
  (fed as unknown as { setup: typeof setup }).setup = {
    ...setup,
    central: { evaluator, schedule: { split: "test" } },
  };
  return fed.restart();
}
