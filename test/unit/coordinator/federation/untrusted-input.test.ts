import { afterEach, describe, expect, it } from "vitest";
import { signJoin } from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { MAX_ERROR_MESSAGE_CHARS, MAX_METRICS, MAX_REASON_CHARS } from "../../../../shared/src/fl/limits.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";
import { TEST_SITE_INFO } from "../../../helpers/in-process-site.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

const MIB = "x".repeat(1 << 20);
const rejected = (reasonCode: string) => ({ accepted: false, reasonCode });

/** One round with sites a and b (b keeps the round open). */
async function openRound() {
  fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { minSites: 1 } });
  const [a, b] = fed.join("a", "b");
  return { fed, a: a!, b: b!, ta: await a!.trainTask() };
}

describe("what a site sends is bounded before the coordinator acts on it", () => {
  it("refuses a 1 MiB or multi-line site id with a short InvalidArgument", () => {
    fed = InProcessFederation.start({ siteIds: ["a"] });
    const { service } = fed;
    for (const siteId of [MIB, "a\nround 99 completed"]) {
      const error = expectFlError(
        () => service.getChallenge({ siteId, clientNonce: new Uint8Array(32) }),
        ErrorCode.InvalidArgument,
        "site id",
      );
      expect(error.message.length).toBeLessThan(200);
      expect(error.message).not.toContain("\n");
      expectFlError(
        () => service.join({ siteId, challenge: new Uint8Array(32), signature: new Uint8Array(64) }),
        ErrorCode.InvalidArgument,
      );
    }
    expect(fed.logs.join("\n")).not.toContain("round 99");
  });

  it("refuses SiteInfo with a newline in backend, an overlong version, or bad class counts", () => {
    fed = InProcessFederation.start({ siteIds: ["a"] });
    const a = fed.site("a");
    for (const [info, fragment] of [
      [{ ...TEST_SITE_INFO, backend: "cpu\nround 99 completed" }, "control characters"],
      [{ ...TEST_SITE_INFO, clientVersion: MIB }, "at most 64"],
      [{ ...TEST_SITE_INFO, trainClassCounts: new Array(5000).fill(1) }, "at most 1024"],
      [{ ...TEST_SITE_INFO, trainClassCounts: [1, -1] }, "class count 1"],
      [{ ...TEST_SITE_INFO, testCount: Number.NaN }, "test count"],
    ] as const) {
      const { challenge, federationId } = fed.service.getChallenge({
        siteId: "a",
        clientNonce: new Uint8Array(32),
      });
      expectFlError(
        () =>
          fed!.service.join({
            siteId: "a",
            challenge,
            signature: signJoin(a.identity, federationId, challenge),
            info,
          }),
        ErrorCode.InvalidArgument,
        fragment,
      );
    }
    expect(fed.store.listSites().find((s) => s.siteId === "a")?.info ?? null).toBeNull();
    expect(fed.logs.join("\n")).not.toContain("round 99");
  });

  it("refuses an upload naming a 1 MiB federation id without echoing it", async () => {
    const { fed, a, ta } = await openRound();
    const verdict = await a.upload(a.seal(ta, 1, 1, { manifest: { federationId: MIB } }));
    expect(verdict).toMatchObject(rejected(ErrorCode.InvalidArgument));
    expect(JSON.stringify(verdict).length).toBeLessThan(300);
    expect(fed.logs.every((line) => line.length < 500)).toBe(true);
    expect(fed.store.listUpdates()).toEqual([]);
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
  });

  it("refuses training metrics that are too many, badly named or not finite, and ends the task", async () => {
    const { a, ta } = await openRound();
    const many = Object.fromEntries(Array.from({ length: MAX_METRICS + 1 }, (_, i) => [`m${i}`, 1]));
    expect(await a.upload(a.seal(ta, 1, 1), many)).toMatchObject({
      ...rejected(ErrorCode.InvalidArgument),
      message: `${MAX_METRICS + 1} training metrics; at most ${MAX_METRICS}`,
    });
    expect(a.heartbeat(ta)).toEqual({ taskActive: false });
    const { a: a2, ta: ta2 } = await openRound();
    expect(await a2.upload(a2.seal(ta2, 1, 1), { loss: Number.NaN })).toMatchObject({
      ...rejected(ErrorCode.InvalidArgument),
      message: 'training metrics "loss" is NaN; must be finite',
    });
    const { a: a3, ta: ta3 } = await openRound();
    expect(await a3.upload(a3.seal(ta3, 1, 1), { "loss\nround 99": 1 })).toMatchObject(
      rejected(ErrorCode.InvalidArgument),
    );
  });

  it("accepts the simulation's own metric names", async () => {
    const { a, ta } = await openRound();
    const metrics = { loss: 0.5, "train.loss": 0.5, "seg.diceSum": 3, "auc.negative": 0.9, "ap.3": 0.2 };
    expect(await a.upload(a.seal(ta, 1, 1), metrics)).toEqual({ accepted: true });
  });

  it("bounds and sanitises a failure reason before recording and publishing it", async () => {
    const { fed, a, b, ta } = await openRound();
    expectFlError(() => a.heartbeat(ta, { status: `training\n${MIB}` }), ErrorCode.InvalidArgument, "status");
    expect(a.heartbeat(ta, { failure: `FL_DATA_ERROR: bad\nround 99 completed ${MIB}` })).toEqual({
      taskActive: false,
    });
    expect(await b.train(1, 1)).toEqual({ accepted: true });
    await fed.settle();
    const [round] = fed.store.listRounds();
    const reason = round?.failures.find((f) => f.siteId === "a")?.reason ?? "";
    expect(reason).toMatch(/^the site gave up: FL_DATA_ERROR: bad round 99 completed x+…$/);
    expect(reason.length).toBeLessThanOrEqual(MAX_REASON_CHARS + "the site gave up: ".length);
    expect(JSON.stringify(fed.events).length).toBeLessThan(20_000);
    expect(fed.logs.some((line) => line.startsWith("round 99"))).toBe(false);
  });

  it("bounds a leave reason", async () => {
    const { fed, a } = await openRound();
    a.leave(`bye\n${MIB}`);
    const left = fed.events.find((e) => e.type === "site.left");
    expect(String(left?.data.reason)).toMatch(/^bye x+…$/);
  });
});

describe("evaluation reports", () => {
  it("refuses an unknown split, 10k metric keys and NaN metrics, and stores none of them", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"] });
    const [a] = fed.join("a");
    await a!.train(1, 1);
    const task = await a!.evaluateTask();
    const perfect = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));
    const tenThousand = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 1]));
    for (const [overrides, fragment] of [
      [{ split: `train\n${MIB}` }, "is not one of val, test"],
      [{ metrics: tenThousand }, "at most 256"],
      [{ metrics: { auc: Number.NaN } }, "must be finite"],
      [{ metrics: { [MIB]: 1 } }, "name"],
    ] as const) {
      const error = expectFlError(
        () => a!.evaluate(task, perfect, overrides),
        ErrorCode.InvalidArgument,
        fragment,
      );
      expect(error.message.length).toBeLessThan(MAX_ERROR_MESSAGE_CHARS);
    }
    expect(fed.store.listEvaluations(1)).toEqual([]);
    a!.evaluate(task, perfect, { metrics: { "auc.negative": 1, "seg.diceSum": 2 } });
    expect(fed.store.listEvaluations(1)).toHaveLength(1);
  });
});

describe("uploads whose signature fails", () => {
  it("are counted without their fields and never occupy the upload id they claim", async () => {
    const { fed, a, ta } = await openRound();
    const honest = a.seal(ta, 1, 1);
    // A forged header reusing the honest upload's id, with made-up numbers.
    const forged = {
      ...a.seal(ta, 1, 1, { manifest: { uploadId: honest.manifest.uploadId, numExamples: 99 } }),
      signature: new Uint8Array(64),
    };
    expect(await a.upload(forged)).toMatchObject(rejected(ErrorCode.SignatureInvalid));
    expect(fed.store.listUpdates()).toEqual([]);
    const event = fed.events.find((e) => e.type === "update.rejected");
    expect(event?.data).toEqual({ code: ErrorCode.SignatureInvalid });
    expect(await a.upload(honest)).toEqual({ accepted: true });
    expect(fed.store.listUpdates().map((u) => [u.uploadId, u.status])).toEqual([
      [honest.manifest.uploadId, "accepted"],
    ]);
  });

  it("and a manifest naming another site is refused the same way", async () => {
    const { fed, a, ta } = await openRound();
    const update = a.seal(ta, 1, 1);
    await expect(
      a.upload({ ...update, manifest: { ...update.manifest, siteId: "b" } }),
    ).rejects.toMatchObject({
      code: ErrorCode.Unauthenticated,
      message: expect.stringContaining('names site "b"'),
    });
    expect(fed.store.listUpdates()).toEqual([]);
  });
});
