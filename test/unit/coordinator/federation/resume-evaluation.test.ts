import { afterEach, describe, expect, it } from "vitest";
import type { PlanInput } from "../../../../coordinator/src/plan.js";
import type { FlTask } from "../../../../shared/src/fl/task.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";
import type { InProcessSite } from "../../../helpers/in-process-site.js";

/**
 * The coordinator is stopped as a crash would stop it (nothing after that moment is committed)
 * at each step of a round and of its evaluation; a second coordinator over the same SQLite
 * store must end with the model and the evaluations of an uninterrupted run.
 */

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

const PLAN: Partial<PlanInput> = {
  minSites: 2,
  evaluateEvery: 1,
  // Server momentum makes the result depend on state carried across the crash.
  strategy: { name: "fedavgm", momentum: 0.9, serverLearningRate: 1 },
  phases: [{ name: "p", task: "classify", rounds: 2 }],
};

/** Each site's delta and example count per round: a rerun round gets the same updates. */
const UPDATES: Record<string, Record<number, [number, number]>> = {
  a: { 1: [1, 1], 2: [10, 1] },
  b: { 1: [3, 1], 2: [20, 3] },
};

/** Distinct per site, so that a report pooled twice or lost changes the totals. */
const CONFUSION: Record<string, number[][]> = {
  a: [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ],
  b: [
    [2, 0, 0, 0],
    [0, 1, 1, 0],
    [0, 0, 1, 0],
    [1, 0, 0, 0],
  ],
};

type Received = Array<[site: string, kind: FlTask["kind"], round: number, modelVersion: number]>;

async function trainOnce(site: InProcessSite): Promise<void> {
  const task = await site.trainTask();
  const [fill, n] = UPDATES[site.id]![task.round]!;
  expect(await site.upload(site.seal(task, fill, n))).toEqual({ accepted: true });
}

async function evaluateOnce(site: InProcessSite): Promise<void> {
  site.evaluate(await site.evaluateTask(), CONFUSION[site.id]!);
}

/** Each site does whatever it is asked until the plan is done; returns what each was asked. */
async function driveToEnd(federation: InProcessFederation): Promise<Received> {
  const received: Received = [];
  await Promise.all(
    federation.join("a", "b").map(async (site) => {
      for (;;) {
        const outcome = await site.pull();
        if (outcome.kind === "done") return;
        if (outcome.kind !== "task") continue;
        const { task } = outcome;
        received.push([site.id, task.kind, task.round, task.modelVersion]);
        if (task.kind === "train") {
          const [fill, n] = UPDATES[site.id]![task.round]!;
          expect(await site.upload(site.seal(task, fill, n))).toEqual({ accepted: true });
        } else site.evaluate(task, CONFUSION[site.id]!);
      }
    }),
  );
  expect(await federation.run).toEqual({ status: "completed", reason: "the plan is complete" });
  return received;
}

interface Outcome {
  readonly sha256: string;
  readonly version: number;
  readonly evaluations: Record<number, Array<[string, number[][]]>>;
  readonly runs: Record<number, { expected: string[]; failures: unknown[]; settled: boolean } | undefined>;
}

function outcomeOf(federation: InProcessFederation): Outcome {
  const latest = federation.store.latestCheckpoint()!;
  const evaluations: Outcome["evaluations"] = {};
  const runs: Outcome["runs"] = {};
  for (const version of [1, 2]) {
    evaluations[version] = federation.store
      .listEvaluations(version)
      .map((e): [string, number[][]] => [e.siteId, e.confusion]);
    const run = federation.store.evaluationRun(version);
    runs[version] = run && {
      expected: run.expected,
      failures: run.failures,
      settled: run.settledAtMs !== null,
    };
  }
  return { sha256: latest.sha256, version: latest.version, evaluations, runs };
}

const COMPLETE_EVALUATIONS = {
  1: [
    ["a", CONFUSION.a],
    ["b", CONFUSION.b],
  ],
  2: [
    ["a", CONFUSION.a],
    ["b", CONFUSION.b],
  ],
};
const SETTLED_RUNS = {
  1: { expected: ["a", "b"], failures: [], settled: true },
  2: { expected: ["a", "b"], failures: [], settled: true },
};

let uninterrupted: Outcome | undefined;

async function baseline(): Promise<Outcome> {
  if (!uninterrupted) {
    const once = InProcessFederation.start({ siteIds: ["a", "b"], plan: PLAN });
    try {
      const received = await driveToEnd(once);
      expect(received.filter(([, kind]) => kind === "evaluate")).toHaveLength(4);
      uninterrupted = outcomeOf(once);
    } finally {
      await once.close();
    }
  }
  return uninterrupted;
}

describe("a coordinator killed at each step of a round resumes to the uninterrupted result", () => {
  it("the uninterrupted run evaluates v1 and v2 on both sites", async () => {
    const result = await baseline();
    expect(result.version).toBe(2);
    expect(result.evaluations).toEqual(COMPLETE_EVALUATIONS);
    expect(result.runs).toEqual(SETTLED_RUNS);
  });

  const moments: Array<{
    name: string;
    /** Drives the first life to the moment of the crash. */
    until: (first: InProcessFederation) => Promise<void>;
    /** What the second life asks the sites to do. */
    asked: Received;
  }> = [
    {
      name: "before any upload",
      until: async (first) => {
        first.join("a", "b");
        await first.settle();
      },
      asked: [
        ["a", "train", 1, 0],
        ["a", "evaluate", 1, 1],
        ["a", "train", 2, 1],
        ["a", "evaluate", 2, 2],
        ["b", "train", 1, 0],
        ["b", "evaluate", 1, 1],
        ["b", "train", 2, 1],
        ["b", "evaluate", 2, 2],
      ],
    },
    {
      name: "after some uploads",
      until: async (first) => {
        const [a] = first.join("a", "b");
        await trainOnce(a!);
        await first.settle();
        expect(first.store.listUpdates({ round: 1 })).toHaveLength(1);
      },
      asked: [
        ["a", "train", 1, 0],
        ["a", "evaluate", 1, 1],
        ["a", "train", 2, 1],
        ["a", "evaluate", 2, 2],
        ["b", "train", 1, 0],
        ["b", "evaluate", 1, 1],
        ["b", "train", 2, 1],
        ["b", "evaluate", 2, 2],
      ],
    },
    {
      name: "after the commit, before the evaluation went out",
      until: async (first) => {
        // Both sites leave once their updates are in: the round commits and the evaluation
        // waits for a site, so the crash falls between the commit and the evaluation.
        const [a, b] = first.join("a", "b");
        await trainOnce(a!);
        a!.leave();
        await trainOnce(b!);
        b!.leave();
        await first.settle();
        expect(first.store.lastCompletedRound()).toBe(1);
        expect(first.store.evaluationRun(1)).toBeUndefined();
      },
      asked: [
        ["a", "evaluate", 1, 1],
        ["a", "train", 2, 1],
        ["a", "evaluate", 2, 2],
        ["b", "evaluate", 1, 1],
        ["b", "train", 2, 1],
        ["b", "evaluate", 2, 2],
      ],
    },
    {
      name: "after the commit, with the evaluation out and no report yet",
      until: async (first) => {
        const [a, b] = first.join("a", "b");
        await Promise.all([trainOnce(a!), trainOnce(b!)]);
        expect((await a!.evaluateTask()).modelVersion).toBe(1);
      },
      asked: [
        ["a", "evaluate", 1, 1],
        ["a", "train", 2, 1],
        ["a", "evaluate", 2, 2],
        ["b", "evaluate", 1, 1],
        ["b", "train", 2, 1],
        ["b", "evaluate", 2, 2],
      ],
    },
    {
      name: "after a partial evaluation (a's report is kept, only b is asked again)",
      until: async (first) => {
        const [a, b] = first.join("a", "b");
        await Promise.all([trainOnce(a!), trainOnce(b!)]);
        await evaluateOnce(a!);
        await first.settle();
        expect(first.store.listEvaluations(1).map((e) => e.siteId)).toEqual(["a"]);
      },
      asked: [
        ["a", "train", 2, 1],
        ["a", "evaluate", 2, 2],
        ["b", "evaluate", 1, 1],
        ["b", "train", 2, 1],
        ["b", "evaluate", 2, 2],
      ],
    },
    {
      name: "after an evaluation that a site failed (it is asked again before the plan goes on)",
      until: async (first) => {
        const [a, b] = first.join("a", "b");
        await Promise.all([trainOnce(a!), trainOnce(b!)]);
        await evaluateOnce(a!);
        expect(b!.heartbeat(await b!.evaluateTask(), { failure: "test split unreadable" })).toEqual({
          taskActive: false,
        });
        // The evaluation settled with b failed; round 2 is open when the coordinator dies.
        expect((await a!.trainTask()).round).toBe(2);
        expect(first.store.evaluationRun(1)?.failures).toEqual([
          { siteId: "b", reason: "the site gave up: test split unreadable" },
        ]);
      },
      asked: [
        ["a", "train", 2, 1],
        ["a", "evaluate", 2, 2],
        ["b", "evaluate", 1, 1],
        ["b", "train", 2, 1],
        ["b", "evaluate", 2, 2],
      ],
    },
    {
      name: "after a partial final evaluation",
      until: async (first) => {
        const [a, b] = first.join("a", "b");
        await Promise.all([trainOnce(a!), trainOnce(b!)]);
        await Promise.all([evaluateOnce(a!), evaluateOnce(b!)]);
        await Promise.all([trainOnce(a!), trainOnce(b!)]);
        await evaluateOnce(a!);
        await first.settle();
        expect(first.store.listEvaluations(2).map((e) => e.siteId)).toEqual(["a"]);
      },
      asked: [["b", "evaluate", 2, 2]],
    },
    {
      name: "after the final evaluation",
      until: async (first) => {
        await driveToEnd(first);
      },
      asked: [],
    },
  ];

  for (const moment of moments) {
    it(moment.name, async () => {
      const expected = await baseline();
      const first = InProcessFederation.start({ siteIds: ["a", "b"], plan: PLAN });
      fed = first;
      await moment.until(first);
      fed = await first.restart();
      const asked = await driveToEnd(fed);
      expect(asked.sort()).toEqual([...moment.asked].sort());
      const result = outcomeOf(fed);
      expect(result.sha256).toBe(expected.sha256);
      expect(result.evaluations).toEqual(COMPLETE_EVALUATIONS);
      expect(result.runs).toEqual(SETTLED_RUNS);
    });
  }

  it("records an expected site that is gone at the resume as failed; the evaluation stays incomplete", async () => {
    // One site is a quorum here, so the resumed evaluation does not wait for b.
    const first = InProcessFederation.start({ siteIds: ["a", "b"], plan: { ...PLAN, minSites: 1 } });
    fed = first;
    const [a, b] = first.join("a", "b");
    await Promise.all([trainOnce(a!), trainOnce(b!)]);
    await evaluateOnce(a!);
    await first.settle();
    fed = await first.restart();
    // Only a comes back: it has reported on v1 already, so no one is asked and the run settles,
    // incomplete, so that b is asked once it is back (after the next restart).
    fed.join("a");
    await fed.settle();
    expect(fed.store.evaluationRun(1)).toMatchObject({
      expected: ["a", "b"],
      failures: [{ siteId: "b", reason: "not connected when the evaluation resumed" }],
      settledAtMs: expect.any(Number),
    });
    expect(fed.logs).toContain("evaluation of model v1 resumes: 1 of 2 reports kept, asking no one");
    expect(fed.events.filter((e) => e.type === "evaluation.completed").map((e) => e.data)).toEqual([
      expect.objectContaining({ modelVersion: 1, failures: [expect.objectContaining({ siteId: "b" })] }),
    ]);
  });
});

describe("the final evaluation at the plan's end", () => {
  const ONE_ROUND: Partial<PlanInput> = {
    ...PLAN,
    minSites: 1,
    phases: [{ name: "p", task: "classify", rounds: 1 }],
  };

  it("asks a site that failed it once more while it is connected, keeping the other reports", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: ONE_ROUND });
    const [a, b] = fed.join("a", "b");
    await Promise.all([trainOnce(a!), trainOnce(b!)]);
    await evaluateOnce(a!);
    b!.heartbeat(await b!.evaluateTask(), { failure: "busy" });
    const again = await b!.evaluateTask();
    expect(again.modelVersion).toBe(1);
    b!.evaluate(again, CONFUSION.b!);
    expect((await fed.run).status).toBe("completed");
    expect(fed.store.listEvaluations(1).map((e) => e.siteId)).toEqual(["a", "b"]);
    expect(fed.store.evaluationRun(1)).toMatchObject({ expected: ["a", "b"], failures: [] });
  });

  it("does not announce the same result twice when the site that failed it is gone", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: ONE_ROUND });
    const [a, b] = fed.join("a", "b");
    await Promise.all([trainOnce(a!), trainOnce(b!)]);
    await evaluateOnce(a!);
    await b!.evaluateTask();
    b!.leave();
    expect((await fed.run).status).toBe("completed");
    expect(fed.events.filter((e) => e.type === "evaluation.completed")).toHaveLength(1);
    expect(fed.store.evaluationRun(1)?.failures).toEqual([{ siteId: "b", reason: "client left: done" }]);
  });
});
