import { afterEach, describe, expect, it } from "vitest";
import { signJoin } from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

describe("sessions", () => {
  it("lets only enrolled sites join, with a fresh challenge signed by their own key", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"] });
    const { service } = fed;
    expectFlError(() => service.getChallenge("stranger"), ErrorCode.UnknownSite, "not enrolled");
    const a = fed.site("a");
    const { challenge } = service.getChallenge("a");
    const signedByB = fed.site("b").identity;
    expectFlError(
      () => service.join({ siteId: "a", challenge, signature: signJoin(signedByB, "test", challenge) }),
      ErrorCode.SignatureInvalid,
    );
    // The challenge was used up by the failed attempt.
    expectFlError(
      () => service.join({ siteId: "a", challenge, signature: signJoin(a.identity, "test", challenge) }),
      ErrorCode.Unauthenticated,
      "GetChallenge again",
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
    const old = a.token;
    a.join();
    for (const call of [
      () => service.heartbeat(old, { taskId: "t", progress: 0, status: "" }),
      () => service.model(old, 0),
      () => service.reportEvaluation("nobody", {} as never),
      () => service.beginUpload("nobody", {} as never),
    ])
      expectFlError(call, ErrorCode.Unauthenticated, "join again");
    await expect(service.pullTask(old, 0)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
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
    expect(a!.upload(a!.seal(ta, 1, 1))).toEqual({ accepted: true });
    await fed.settle();
    expect(fed.store.listRounds()[0]?.failures).toEqual([
      { siteId: "b", reason: "client lost: missed heartbeats" },
    ]);
  });
});
