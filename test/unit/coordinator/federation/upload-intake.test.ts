import { afterEach, describe, expect, it } from "vitest";
import { publicIdentity, verifyManifest } from "../../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import type { AggregateStage, StageContext, UpdateStage } from "../../../../shared/src/fl/pipeline.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import { type FederationSetup, InProcessFederation } from "../../../helpers/in-process-federation.js";
import { TEST_SITE_INFO } from "../../../helpers/in-process-site.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

/** One round with sites a and b; the round completes with one update, so b's task can be watched. */
async function openRound(setup: Partial<FederationSetup> = {}) {
  fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { minSites: 1 }, ...setup });
  const [a, b] = fed.join("a", "b");
  return { fed, a: a!, b: b!, ta: await a!.trainTask(), tb: await b!.trainTask() };
}

const rejected = (reasonCode: string) => ({ accepted: false, reasonCode });

describe("upload verdicts", () => {
  it("refuses a replayed upload and a second update for a delivered task", async () => {
    const { fed, a, ta } = await openRound();
    const update = a.seal(ta, 1, 1);
    expect(await a.upload(update)).toEqual({ accepted: true });
    expect(await a.upload(update)).toMatchObject({
      ...rejected(ErrorCode.Replay),
      message: expect.stringContaining("already received"),
    });
    expect(await a.upload(a.seal(ta, 2, 1))).toMatchObject({
      ...rejected(ErrorCode.Replay),
      message: `site "a" already delivered its update for round 1`,
    });
    expect(
      fed.store
        .listUpdates()
        .map((u) => u.status)
        .sort(),
    ).toEqual(["accepted", "rejected"]);
  });

  it("names the real open round and model version when an update is for another", async () => {
    const { fed, a, ta } = await openRound();
    expect(await a.upload(a.seal(ta, 1, 1, { manifest: { round: 2 } }))).toEqual({
      ...rejected(ErrorCode.WrongRound),
      message: `update is for round 2 / model v0 / task task-1; the open task of "a" is round 1 / model v0 / task task-1`,
    });
    expect(await a.upload(a.seal(ta, 1, 1, { manifest: { modelVersion: 3 } }))).toMatchObject(
      rejected(ErrorCode.WrongRound),
    );
    // A stale header leaves the task open: the site can still deliver.
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
    expect(
      fed.store
        .listUpdates()
        .map((u) => u.reason?.split(":")[0] ?? u.status)
        .sort(),
    ).toEqual([ErrorCode.WrongRound, ErrorCode.WrongRound, "accepted"]);
  });

  it("says so, without made-up numbers, when the site has no training task open", async () => {
    const { fed, a, b, ta } = await openRound();
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({ accepted: true });
    b.leave();
    await fed.settle();
    // Round 1 is over and the final evaluation is open: no training task for a.
    const late = await a.upload(a.seal(ta, 1, 1));
    expect(late).toEqual({
      ...rejected(ErrorCode.WrongRound),
      message: `update is for round 1 / model v0 / task task-1; "a" has no open training task`,
    });
  });

  it("checks authenticity first: a forged header is refused as such and leaves the task open", async () => {
    const { a, ta } = await openRound();
    const forged = { ...a.seal(ta, 1, 1), signature: new Uint8Array(64) };
    expect(await a.upload(forged)).toMatchObject(rejected(ErrorCode.SignatureInvalid));
    expect(
      await a.upload({ ...a.seal(ta, 1, 1, { manifest: { round: 9 } }), signature: new Uint8Array(64) }),
    ).toMatchObject(rejected(ErrorCode.SignatureInvalid));
    expect(a.heartbeat(ta)).toEqual({ taskActive: true });
  });

  it("ends the task of an authentic but invalid update (wrong shape, NaN), so the round need not wait", async () => {
    const { fed, a, b, ta, tb } = await openRound();
    const wrongShape = {
      manifest: createManifest([{ name: "w", shape: [3, 2] }]),
      values: new Float32Array(6),
    };
    expect(await b.upload(b.seal(tb, 0, 1, { delta: wrongShape }))).toMatchObject(
      rejected(ErrorCode.WeightsShapeMismatch),
    );
    expect(b.heartbeat(tb)).toEqual({ taskActive: false });
    expect(await a.upload(a.seal(ta, (i) => (i === 3 ? Number.NaN : 1), 1))).toMatchObject(
      rejected(ErrorCode.NonFinite),
    );
    await fed.settle();
    const [round] = fed.store.listRounds();
    expect(round?.status).toBe("failed");
    expect(round?.failures.map((f) => [f.siteId, f.reason.split(":")[1]?.trim()])).toEqual([
      ["b", ErrorCode.WeightsShapeMismatch],
      ["a", ErrorCode.NonFinite],
    ]);
  });

  it("refuses an update larger than the limit before reading its chunks", async () => {
    const { a, ta } = await openRound({ maxUpdateBytes: 64 });
    const update = a.seal(ta, 1, 1);
    expect(await a.upload({ ...update, chunks: [] })).toMatchObject(rejected(ErrorCode.TooLarge));
  });

  it("refuses tampered chunks", async () => {
    const { a, ta } = await openRound();
    const update = a.seal(ta, 1, 1);
    const chunk = update.chunks[0]!.slice();
    chunk[3]! ^= 0xff;
    expect(await a.upload({ ...update, chunks: [chunk] })).toMatchObject(
      rejected(ErrorCode.DecryptionFailed),
    );
  });

  it("keeps the task open when an upload ends early, and refuses one finished after its round closed", async () => {
    const { fed, a, b, ta, tb } = await openRound();
    const update = a.seal(ta, 1, 1);
    const header = { manifest: update.manifest, signature: update.signature, trainMetrics: {} };
    const early = a.beginUpload(header);
    await expect(early.finish()).rejects.toThrow(FlError);
    expect(fed.store.listUpdates()).toEqual([]);
    expect(a.heartbeat(ta)).toEqual({ taskActive: true });

    const slow = b.seal(tb, 1, 1);
    const sink = b.beginUpload({
      manifest: slow.manifest,
      signature: slow.signature,
      trainMetrics: {},
    });
    sink.addChunk(0, slow.chunks[0]!);
    expect(await a.upload(update)).toEqual({ accepted: true });
    await fed.clock.advance(60_000);
    await expect(sink.finish()).rejects.toThrow(/round 1 closed before the upload finished/);
  });

  it("expects exactly the tensors the phase shares", async () => {
    fed = InProcessFederation.start({
      siteIds: ["a"],
      plan: {
        minSites: 1,
        maxRoundAttempts: 2,
        phases: [{ name: "p", task: "classify", rounds: 1, local: ["b"] }],
      },
    });
    const [a] = fed.join("a");
    const first = await a!.trainTask();
    const everything = a!.seal(first, 1, 1, {
      delta: {
        manifest: createManifest([
          { name: "w", shape: [2, 2] },
          { name: "b", shape: [2] },
        ]),
        values: new Float32Array(6),
      },
    });
    expect(await a!.upload(everything)).toMatchObject(rejected(ErrorCode.WeightsShapeMismatch));
    await fed.settle();
    // The next attempt's task: the site sends only w, and b keeps its value.
    expect(await a!.train(1, 1)).toEqual({ accepted: true });
    await fed.settle();
    expect(Array.from(fed.latestModel().values)).toEqual([2, 3, 4, 5, 5, 6]);
  });
});

describe("the coordinator's pipeline stages", () => {
  const seen: StageContext[] = [];
  /** Doubles each update and says so in its metrics. */
  const double: UpdateStage = {
    name: "double",
    apply(update, context) {
      seen.push(context);
      return {
        ...update,
        delta: { manifest: update.delta.manifest, values: update.delta.values.map((v) => 2 * v) },
        metrics: { ...update.metrics, "double.factor": 2 },
      };
    },
  };
  /** Adds 0.5 to the round's mean delta, as central noise would add its draw. */
  const shift: AggregateStage = {
    name: "shift",
    apply: (aggregate) => ({
      ...aggregate,
      meanDelta: aggregate.meanDelta.map((v) => v + 0.5),
      metrics: { ...aggregate.metrics, "shift.by": 0.5 },
    }),
  };

  it("runs the coordinator stages on each verified update and the aggregate stages on the round's mean", async () => {
    seen.length = 0;
    fed = InProcessFederation.start({
      siteIds: ["a", "b", "c"],
      buildPipeline: () => ({ client: [], coordinator: [double], aggregate: [shift] }),
    });
    const [a, b, c] = fed.join("a", "b", "c");
    // Doubled deltas 2, 4, 8 with 10, 30, 60 examples: 6.2; shifted: 6.7.
    await Promise.all([a!.train(1, 10), b!.train(2, 30), c!.train(4, 60)]);
    await fed.evaluateAll([a!, b!, c!]);
    expect((await fed.run).status).toBe("completed");
    expect(Array.from(fed.latestModel().values)).toEqual(
      [1, 2, 3, 4, 5, 6].map((v) => Math.fround(v + Math.fround(Math.fround(6.2) + 0.5))),
    );
    // The three uploads open concurrently on the opening threads: they finish in no fixed order.
    expect([...seen].sort((x, y) => x.siteId.localeCompare(y.siteId))).toEqual(
      ["a", "b", "c"].map((siteId) => ({ siteId, round: 1, phase: "p" })),
    );
    expect(fed.store.listRounds()[0]?.metrics).toMatchObject({
      "train.double.factor": 2,
      "shift.by": 0.5,
      updateNorm: expect.closeTo(Math.sqrt(6) * 6.7, 5),
    });
    expect(fed.store.listUpdates()[0]?.trainMetrics).toEqual({ loss: 1, "double.factor": 2 });
  });

  it("turns a stage's refusal into a verdict that names it, and ends the site's task", async () => {
    const veto: UpdateStage = {
      name: "veto",
      apply: () => {
        throw new FlError(ErrorCode.InvalidArgument, "norm above the bound");
      },
    };
    const { fed, a, ta } = await openRound({
      buildPipeline: () => ({ client: [], coordinator: [veto], aggregate: [] }),
    });
    expect(await a.upload(a.seal(ta, 1, 1))).toEqual({
      ...rejected(ErrorCode.InvalidArgument),
      message: "pipeline stage veto: norm above the bound",
    });
    expect(a.heartbeat(ta)).toEqual({ taskActive: false });
    expect(fed.store.listUpdates()[0]?.reason).toBe(
      "FL_INVALID_ARGUMENT: pipeline stage veto: norm above the bound",
    );
  });

  it("refuses what a stage hands on unless it is still a finite update of the shared tensors", async () => {
    const reshape: UpdateStage = {
      name: "reshape",
      apply: (update) => ({
        ...update,
        delta: { manifest: createManifest([{ name: "w", shape: [4] }]), values: new Float32Array(4) },
      }),
    };
    const { a, ta } = await openRound({
      buildPipeline: () => ({ client: [], coordinator: [reshape], aggregate: [] }),
    });
    expect(await a.upload(a.seal(ta, 1, 1))).toMatchObject(rejected(ErrorCode.WeightsShapeMismatch));
  });
});

describe("the example count an update claims", () => {
  // Test sites declare class counts 25/25/25/25 at join: 100 training examples.
  it("is accepted up to the training set the site declared at join", async () => {
    const { a, ta } = await openRound();
    expect(await a.upload(a.seal(ta, 1, 100))).toEqual({ accepted: true });
  });

  it("is refused above it, naming both numbers, and ends the site's task", async () => {
    const { fed, a, ta } = await openRound();
    expect(await a.upload(a.seal(ta, 1, 101))).toEqual({
      ...rejected(ErrorCode.InvalidArgument),
      message: `update of "a" reports 101 training examples, more than the 100 it declared at join`,
    });
    expect(await a.upload(a.seal(ta, 1, 100))).toMatchObject({
      ...rejected(ErrorCode.WrongRound),
      message: expect.stringContaining("already failed"),
    });
    expect(fed.store.listUpdates().map((u) => u.status)).toEqual(["rejected", "rejected"]);
  });

  it("counts the unlabelled training images a site declared (self-supervised phases use them)", async () => {
    fed = InProcessFederation.start({ siteIds: ["a", "b"], plan: { minSites: 1 } });
    const withUnlabelled = { ...TEST_SITE_INFO, trainUnlabelledCount: 50 };
    const a = fed.site("a").join(withUnlabelled);
    const b = fed.site("b").join(withUnlabelled);
    expect(await a.upload(a.seal(await a.trainTask(), 1, 150))).toEqual({ accepted: true });
    expect(await b.upload(b.seal(await b.trainTask(), 1, 151))).toEqual({
      ...rejected(ErrorCode.InvalidArgument),
      message: `update of "b" reports 151 training examples, more than the 150 it declared at join`,
    });
  });

  it("is refused from a site that declared no training set", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const a = fed.site("a").join(null);
    const task = await a.trainTask();
    expect(await a.upload(a.seal(task, 1, 1))).toEqual({
      ...rejected(ErrorCode.InvalidArgument),
      message: `update of "a" reports 1 training examples, but the site declared no training set at join`,
    });
  });
});

describe("the audit trail", () => {
  it("keeps each recorded update's signed manifest, which verifies against the site's key only as sent", async () => {
    const { fed, a, ta, b, tb } = await openRound();
    expect(await a.upload(a.seal(ta, 1, 10))).toEqual({ accepted: true });
    expect(await b.upload(b.seal(tb, 1, 101))).toMatchObject(rejected(ErrorCode.InvalidArgument));
    const records = fed.store.listUpdates();
    expect(records.map((r) => [r.siteId, r.status])).toEqual([
      ["a", "accepted"],
      ["b", "rejected"],
    ]);
    for (const record of records) {
      const signed = record.signed;
      if (!signed) throw new Error(`update ${record.uploadId} was stored without its signature`);
      const key = publicIdentity(fed.site(record.siteId).identity);
      expect(signed.manifest.uploadId).toBe(record.uploadId);
      expect(verifyManifest(signed.manifest, signed.signature, key)).toBe(true);
      // Whoever holds the database cannot restate what the site sent.
      const altered = { ...signed.manifest, numExamples: signed.manifest.numExamples + 1 };
      expect(verifyManifest(altered, signed.signature, key)).toBe(false);
    }
  });
});
