import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

const PERFECT = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));
/** 7 of 8 right: one class-0 image taken for class 1. */
const ONE_WRONG = [
  [1, 1, 0, 0],
  [0, 2, 0, 0],
  [0, 0, 2, 0],
  [0, 0, 0, 2],
];

/** A one-round federation of a and b, trained, with the final evaluation open. */
async function evaluationOpen() {
  fed = InProcessFederation.start({ siteIds: ["a", "b"] });
  const [a, b] = fed.join("a", "b");
  await Promise.all([a!.train(1, 1), b!.train(1, 1)]);
  return { fed, a: a!, b: b!, ea: await a!.evaluateTask(), eb: await b!.evaluateTask() };
}

describe("evaluation intake", () => {
  it("pools the sites' confusion matrices into the federation's metrics", async () => {
    const { fed, a, b, ea, eb } = await evaluationOpen();
    expect(ea).toMatchObject({ round: 1, modelVersion: 1, spec: { split: "test", task: "classify" } });
    a.evaluate(ea, PERFECT);
    b.evaluate(eb, ONE_WRONG);
    expect((await fed.run).status).toBe("completed");
    const completed = fed.events.find((e) => e.type === "evaluation.completed");
    expect(completed?.data).toMatchObject({
      modelVersion: 1,
      pooled: { accuracy: 11 / 12, count: 12 },
      perSite: { a: { accuracy: 1, count: 4 }, b: { accuracy: 7 / 8, count: 8 } },
      failures: [],
    });
    expect(fed.store.listEvaluations(1).map((e) => [e.siteId, e.numExamples])).toEqual([
      ["a", 4],
      ["b", 8],
    ]);
  });

  it("refuses reports for another task or model version, a second report, and malformed matrices", async () => {
    const { fed, a, b, ea, eb } = await evaluationOpen();
    const report = (overrides: object) => () =>
      a.report({
        taskId: ea.taskId,
        round: 1,
        modelVersion: 1,
        split: "test",
        numExamples: 4,
        confusion: PERFECT,
        metrics: {},
        ...overrides,
      });
    expectFlError(
      report({ taskId: eb.taskId }),
      ErrorCode.WrongRound,
      `no open evaluation task ${eb.taskId}`,
    );
    expectFlError(report({ modelVersion: 0 }), ErrorCode.WrongRound, "the task asked for v1");
    expectFlError(
      report({ confusion: PERFECT.slice(1) }),
      ErrorCode.InvalidArgument,
      "must be 4x4",
      "3 rows",
    );
    expectFlError(
      report({ confusion: [...PERFECT.slice(1), [1, 0, 0]] }),
      ErrorCode.InvalidArgument,
      "4/4/4/3",
    );
    expectFlError(report({ numExamples: 5 }), ErrorCode.InvalidArgument, "summing to 4");
    expectFlError(
      report({ confusion: [[2, -1, 0, 0], ...PERFECT.slice(1)], numExamples: 4 }),
      ErrorCode.InvalidArgument,
      "counts",
    );
    report({})();
    expectFlError(report({}), ErrorCode.Replay, "already closed");
    b.evaluate(eb, PERFECT);
    expect((await fed.run).status).toBe("completed");
    expect(fed.store.listEvaluations(1)).toHaveLength(2);
  });

  it("refuses an evaluation while a training round is open", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const [a] = fed.join("a");
    const task = await a!.trainTask();
    expectFlError(
      () =>
        a!.report({
          taskId: task.taskId,
          round: 1,
          modelVersion: 0,
          split: "test",
          numExamples: 4,
          confusion: PERFECT,
          metrics: {},
        }),
      ErrorCode.WrongRound,
    );
  });

  it("ends an evaluation without reports at its deadline, and the final model's evaluation is tried once more", async () => {
    const { fed } = await evaluationOpen();
    await fed.clock.advance(30_000);
    // The plan's end asks for an evaluation of the final model, as after a restart.
    await fed.clock.advance(30_000);
    expect((await fed.run).status).toBe("completed");
    expect(fed.logs.filter((l) => l === "evaluation of model v1 got no reports")).toHaveLength(2);
    expect(fed.events.some((e) => e.type === "evaluation.completed")).toBe(false);
  });

  it("evaluates every evaluateEvery rounds and after the last", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a"],
      plan: { minSites: 1, evaluateEvery: 2, phases: [{ name: "p", task: "classify", rounds: 3 }] },
    });
    const [a] = fed.join("a");
    for (const round of [1, 2, 3]) {
      expect(await a!.train(1, 1)).toEqual({ accepted: true });
      if (round !== 1) await fed.evaluateAll([a!]);
    }
    expect((await fed.run).status).toBe("completed");
    expect(fed.events.filter((e) => e.type === "evaluation.completed").map((e) => e.round)).toEqual([2, 3]);
  });
});
