import { afterEach, describe, expect, it } from "vitest";
import { LONG_POLL_MS } from "../../../../shared/src/fl/protocol-constants.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

describe("the task board", () => {
  it("answers a long-poll with a task as soon as the round opens, and with wait when its time is up", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { minSites: 1, minAvailableSites: 2 } });
    const [a] = fed.join("a");
    const early = a!.pull(5_000);
    await fed.clock.advance(5_000);
    expect(await early).toEqual({ kind: "wait", retryAfterMs: 0, reason: "no task for this site now" });
    const waiting = a!.pull(5_000);
    fed.join("b");
    expect(await waiting).toMatchObject({ kind: "task", task: { taskId: "task-1", round: 1 } });
    expect(await a!.pull(0)).toEqual({ kind: "wait", retryAfterMs: 0, reason: "task in progress" });
  });

  it("holds a long-poll at most LONG_POLL_MS, whatever the client asks for", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { minAvailableSites: 2 } });
    const [a] = fed.join("a");
    let answered = false;
    const pull = a!.pull(120_000).then((outcome) => {
      answered = true;
      return outcome;
    });
    await fed.clock.advance(LONG_POLL_MS - 1);
    expect(answered).toBe(false);
    await fed.clock.advance(1);
    expect((await pull).kind).toBe("wait");
  });

  it("fails tasks at the deadline: never picked up, or still working", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a", "b", "c"],
      plan: { minSites: 1, roundTimeoutSec: 60 },
    });
    const [a, b] = fed.join("a", "b", "c");
    expect(await a!.train(1, 1)).toEqual({ accepted: true });
    await b!.trainTask();
    await fed.clock.advance(59_999);
    expect(fed.store.listRounds()[0]?.status).toBe("running");
    await fed.clock.advance(1);
    const [round] = fed.store.listRounds();
    expect(round?.status).toBe("completed");
    expect(round?.failures).toEqual([
      { siteId: "b", reason: "no result before the deadline (still working)" },
      { siteId: "c", reason: "no result before the deadline (task never picked up)" },
    ]);
  });

  it("reports progress of a running task, clamped to [0, 1], and ends a task the site gives up on", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { minSites: 1 } });
    const [a, b] = fed.join("a", "b");
    const [ta, tb] = [await a!.trainTask(), await b!.trainTask()];
    expect(a!.heartbeat(ta, { progress: 1.5, status: "epoch 2" })).toEqual({ taskActive: true });
    expect(fed.progress).toEqual([{ siteId: "a", round: 1, kind: "train", progress: 1, status: "epoch 2" }]);
    expect(a!.heartbeat({ ...ta, taskId: "another" })).toEqual({ taskActive: false });
    expect(b!.heartbeat(tb, { failure: "cannot read images" })).toEqual({ taskActive: false });
    expect(b!.heartbeat(tb)).toEqual({ taskActive: false });
    expect(await a!.upload(a!.seal(ta, 1, 1))).toEqual({ accepted: true });
    await fed.settle();
    const [round] = fed.store.listRounds();
    expect(round?.status).toBe("completed");
    expect(round?.failures).toEqual([{ siteId: "b", reason: "the site gave up: cannot read images" }]);
  });

  it("hands a site that rejoins mid-task the same task again", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const [a] = fed.join("a");
    const before = await a!.trainTask();
    a!.join();
    const after = await a!.trainTask();
    expect(after.taskId).toBe(before.taskId);
    expect(await a!.upload(a!.seal(after, 1, 1))).toEqual({ accepted: true });
  });

  it("answers done once the plan is complete", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const [a] = fed.join("a");
    expect(await a!.train(1, 1)).toEqual({ accepted: true });
    await fed.evaluateAll([a!]);
    expect((await fed.run).status).toBe("completed");
    expect(await a!.pull()).toEqual({ kind: "done", reason: "the plan is complete" });
  });
});
