import { afterEach, describe, expect, it } from "vitest";
import { InProcessFederation } from "../../helpers/in-process-federation.js";
import type { InProcessSite, TrainTask } from "../../helpers/in-process-site.js";

/**
 * A hospital's client killed at each step of a round, and a client that hangs: the round ends
 * without it at the heartbeat timeout (or its deadline), the state stays consistent, and the
 * client, restarted, joins again and takes part in the next round. The coordinator runs with a
 * manual clock, so timeouts pass at once.
 */

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

const HEARTBEAT_TIMEOUT_MS = 30_000;

function start(plan: object = {}) {
  fed = InProcessFederation.start({
    siteIds: ["a", "b"],
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 2 }], ...plan },
  });
  const [a, b] = fed.join("a", "b");
  return { fed, a: a!, b: b! };
}

/** Keeps `alive` heartbeating while the clock moves past the heartbeat timeout. */
async function outlive(fed: InProcessFederation, alive: InProcessSite, task: TrainTask): Promise<void> {
  for (let elapsed = 0; elapsed <= HEARTBEAT_TIMEOUT_MS; elapsed += 5_000) {
    alive.heartbeat(task);
    await fed.clock.advance(5_000);
  }
}

/** Round 2 with both sites, b restarted (joined again, with a new session) during round 1. */
async function roundTwoWithRestartedB(fed: InProcessFederation, a: InProcessSite, b: InProcessSite) {
  const [t2a, t2b] = [await a.trainTask(), await b.trainTask()];
  expect(t2a.round).toBe(2);
  expect(t2b.round).toBe(2);
  expect(await a.upload(a.seal(t2a, 1, 1))).toEqual({ accepted: true });
  expect(await b.upload(b.seal(t2b, 3, 1))).toEqual({ accepted: true });
  await fed.evaluateAll([a, b]);
  expect((await fed.run).status).toBe("completed");
  const [round1, round2] = fed.store.listRounds();
  expect(round2).toMatchObject({ status: "completed", acceptedCount: 2, failures: [] });
  // Every recorded accepted update belongs to a committed round, and the counts agree.
  for (const round of [round1!, round2!]) {
    const accepted = fed.store.listUpdates({ round: round.round }).filter((u) => u.status === "accepted");
    expect(accepted).toHaveLength(round.acceptedCount);
  }
  return round1!;
}

describe("a client killed at each step of a round", { timeout: 30_000 }, () => {
  it("right after pulling its task", async () => {
    const { fed, a, b } = start();
    const ta = await a.trainTask();
    await b.trainTask(); // b dies here: no heartbeat, no upload
    await outlive(fed, a, ta);
    b.join(); // restarted: joins again while round 1 finishes without it
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
    const round1 = await roundTwoWithRestartedB(fed, a, b);
    expect(round1).toMatchObject({
      status: "completed",
      acceptedCount: 1,
      failures: [{ siteId: "b", reason: "client lost: missed heartbeats" }],
    });
  });

  it("after downloading the model, while training", async () => {
    const { fed, a, b } = start();
    const ta = await a.trainTask();
    const tb = await b.trainTask();
    b.download(tb);
    b.heartbeat(tb, { progress: 0.4 });
    await outlive(fed, a, ta);
    b.join(); // restarted: joins again while round 1 finishes without it
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
    const round1 = await roundTwoWithRestartedB(fed, a, b);
    expect(round1.failures).toEqual([{ siteId: "b", reason: "client lost: missed heartbeats" }]);
  });

  it("in the middle of its upload (the stream breaks)", async () => {
    const { fed, a, b } = start();
    const ta = await a.trainTask();
    const tb = await b.trainTask();
    const sealed = b.seal(tb, 5, 1, {});
    const sink = b.beginUpload({ manifest: sealed.manifest, signature: sealed.signature, trainMetrics: {} });
    sink.abort("client cancelled the upload");
    await outlive(fed, a, ta);
    b.join(); // restarted: joins again while round 1 finishes without it
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
    const round1 = await roundTwoWithRestartedB(fed, a, b);
    expect(round1.failures).toEqual([{ siteId: "b", reason: "client lost: missed heartbeats" }]);
    // Nothing of the broken upload was recorded as accepted.
    expect(
      fed.store.listUpdates({ round: 1 }).filter((u) => u.siteId === "b" && u.status === "accepted"),
    ).toEqual([]);
  });

  it("right after its update was accepted", async () => {
    const { fed, a, b } = start();
    const [ta, tb] = [await a.trainTask(), await b.trainTask()];
    expect(await b.upload(b.seal(tb, 3, 1))).toEqual({ accepted: true }); // then b dies
    b.join(); // and is restarted
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
    await fed.settle();
    const round1 = await roundTwoWithRestartedB(fed, a, b);
    expect(round1).toMatchObject({ status: "completed", acceptedCount: 2, failures: [] });
  });

  it("while evaluating: the evaluation ends without it and the federation completes", async () => {
    const { fed, a, b } = start({ phases: [{ name: "p", task: "classify", rounds: 1 }], evaluateEvery: 1 });
    const [ta, tb] = [await a.trainTask(), await b.trainTask()];
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
    expect(await b.upload(b.seal(tb, 1, 1))).toEqual({ accepted: true });
    const ea = await a.evaluateTask();
    await b.evaluateTask(); // b dies before it reports
    const identity = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));
    a.evaluate(ea, identity);
    for (let elapsed = 0; elapsed <= HEARTBEAT_TIMEOUT_MS; elapsed += 5_000) await fed.clock.advance(5_000);
    expect((await fed.run).status).toBe("completed");
    expect(fed.store.listEvaluations().map((r) => r.siteId)).toEqual(["a"]);
  });
});

describe("a client that hangs", { timeout: 30_000 }, () => {
  it("heartbeating but never uploading: the round's deadline ends it, and its late update is refused", async () => {
    const { fed, a, b } = start({ roundTimeoutSec: 60 });
    const [ta, tb] = [await a.trainTask(), await b.trainTask()];
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
    for (let elapsed = 0; elapsed <= 60_000; elapsed += 5_000) {
      b.heartbeat(tb);
      await fed.clock.advance(5_000);
    }
    const [round1] = fed.store.listRounds();
    expect(round1).toMatchObject({ status: "completed", acceptedCount: 1 });
    expect(round1!.failures.map((f) => f.siteId)).toEqual(["b"]);
    expect(b.heartbeat(tb)).toEqual({ taskActive: false });
    expect((await b.upload(b.seal(tb, 9, 1))).accepted).toBe(false);
  });
});
