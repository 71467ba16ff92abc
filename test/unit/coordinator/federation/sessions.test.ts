import { afterEach, describe, expect, it } from "vitest";
import { signJoin } from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { callBody, SessionMethod } from "../../../../shared/src/fl/session-calls.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

const REPORT = {
  taskId: "t",
  round: 1,
  modelVersion: 0,
  split: "test",
  numExamples: 0,
  confusion: [],
  metrics: {},
};

describe("sessions", () => {
  it("lets a site join with its own key, and records what it declared", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"] });
    const a = fed.site("a");
    const { challenge } = fed.service.getChallenge({ siteId: "a", clientNonce: new Uint8Array(32) });
    const signedByB = fed.site("b").identity;
    expectFlError(
      () => fed!.service.join({ siteId: "a", challenge, signature: signJoin(signedByB, "test", challenge) }),
      ErrorCode.UnknownSite,
      "join refused",
    );
    a.join();
    expect(fed.events.find((e) => e.type === "site.joined")).toMatchObject({
      siteId: "a",
      data: { rejoined: false, backend: "test" },
    });
    expect(fed.store.listSites().find((s) => s.siteId === "a")?.info).toMatchObject({ backend: "test" });
  });

  it("refuses every call with an unknown session, and an old session once the site joined again", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"] });
    const { service } = fed;
    const a = fed.site("a").join();
    const old = a.session;
    a.join();
    const stale = (method: SessionMethod, body: unknown) => old.authorize(method, body);
    const beat = { taskId: "t", progress: 0, status: "" };
    for (const call of [
      () => service.heartbeat(stale(SessionMethod.Heartbeat, callBody.heartbeat(beat)), beat),
      () => service.model(stale(SessionMethod.DownloadModel, callBody.downloadModel(0)), 0),
      () =>
        service.reportEvaluation({ sessionToken: "nobody", sequence: 1, mac: new Uint8Array(32) }, REPORT),
      () =>
        service.beginUpload(
          { sessionToken: "nobody", sequence: 1, mac: new Uint8Array(32) },
          { manifest: {} as never, signature: new Uint8Array(64), trainMetrics: {} },
        ),
    ])
      expectFlError(call, ErrorCode.Unauthenticated, "join again");
    await expect(
      service.pullTask(stale(SessionMethod.PullTask, callBody.pullTask(0)), 0),
    ).rejects.toMatchObject({
      code: ErrorCode.Unauthenticated,
    });
    expect(fed.events.filter((e) => e.type === "site.joined").map((e) => e.data.rejoined)).toEqual([
      false,
      true,
    ]);
  });

  it("fails the task of a site that leaves, once", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { minSites: 1 } });
    const [a, b] = fed.join("a", "b");
    await b!.trainTask();
    b!.leave("shutting down");
    b!.leave("again");
    expect(await a!.train(1, 1)).toEqual({ accepted: true });
    await fed.settle();
    expect(fed.store.listRounds()[0]?.failures).toEqual([
      { siteId: "b", reason: "client left: shutting down" },
    ]);
    expect(fed.events.filter((e) => e.type === "site.left")).toMatchObject([
      { siteId: "b", data: { reason: "shutting down" } },
    ]);
  });

  it("ends the session of a site that misses its heartbeats and fails its task; calls keep a site alive", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a", "b"],
      heartbeatTimeoutMs: 5_000,
      plan: { minSites: 1 },
    });
    const [a, b] = fed.join("a", "b");
    const [ta, tb] = [await a!.trainTask(), await b!.trainTask()];
    for (let second = 0; second < 6; second++) {
      expect(a!.heartbeat(ta)).toEqual({ taskActive: true });
      await fed.clock.advance(1_000);
    }
    expect(fed.store.listRounds()[0]?.status).toBe("running");
    expect(fed.events.filter((e) => e.type === "site.left")).toMatchObject([
      { siteId: "b", data: { reason: "missed heartbeats" } },
    ]);
    expectFlError(() => b!.heartbeat(tb), ErrorCode.Unauthenticated);
    expect(await a!.upload(a!.seal(ta, 1, 1))).toEqual({ accepted: true });
    await fed.settle();
    expect(fed.store.listRounds()[0]?.failures).toEqual([
      { siteId: "b", reason: "client lost: missed heartbeats" },
    ]);
  });
});
