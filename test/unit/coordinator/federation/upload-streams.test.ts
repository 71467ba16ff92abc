import { afterEach, describe, expect, it } from "vitest";
import { sealUpdateInThread } from "../../../../client/src/seal-update.js";
import {
  createUploadParams,
  encryptChunk,
  sharedKey,
  signManifest,
} from "../../../../shared/src/crypto/index.js";
import { ErrorCode, type FlError } from "../../../../shared/src/errors.js";
import { serializedLength, serializeWeights, sha256Hex } from "../../../../shared/src/weights/index.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";
import { IntakeRig as Rig } from "../../../helpers/upload-intake-rig.js";

let rig: Rig | undefined;
afterEach(() => {
  rig?.close();
  rig = undefined;
});

describe("upload ids belong to the site that signed them", () => {
  it("a header reusing another site's in-flight upload id blocks and corrupts nothing", async () => {
    rig = new Rig();
    const victim = rig.seal("a", 1, 16);
    expect(victim.chunks.length).toBeGreaterThan(2);
    const inFlight = rig.intake.begin("a", rig.header(victim));
    inFlight.addChunk(0, victim.chunks[0]!);

    // b signs, with its own key, a header naming a's upload id: once for a wrong round (verified,
    // then rejected and recorded) and once valid for its own task but without chunks.
    const bUpdate = rig.seal("b", 2);
    const stale = rig.resign("b", bUpdate.manifest, { uploadId: victim.manifest.uploadId, round: 7 });
    expectFlError(() => rig!.intake.begin("b", stale), ErrorCode.WrongRound);
    // A forged header under a's own session with a's upload id: refused before it can claim it.
    const forged = { ...rig.header(victim), signature: new Uint8Array(64) };
    expectFlError(() => rig!.intake.begin("a", forged), ErrorCode.SignatureInvalid);

    for (const [i, chunk] of victim.chunks.entries()) if (i > 0) inFlight.addChunk(i, chunk);
    await inFlight.finish();
    expect(rig.store.listUpdates().map((u) => [u.siteId, u.uploadId, u.status])).toEqual([
      ["b", victim.manifest.uploadId, "rejected"],
      ["a", victim.manifest.uploadId, "accepted"],
    ]);
    expect(rig.aggregation.acceptedCount).toBe(rig.acceptedRows().length);
    // b's own upload id is free for b, and b's upload counts as well.
    expect(await rig.upload("b", bUpdate)).toBe("accepted");
    expect(rig.acceptedRows()).toEqual(["a", "b"]);
    expect(rig.aggregation.acceptedCount).toBe(2);
  });

  it("a second header with the site's own in-flight upload id is a replay", () => {
    rig = new Rig();
    const update = rig.seal("a");
    rig.intake.begin("a", rig.header(update));
    expectFlError(() => rig!.intake.begin("a", rig!.header(update)), ErrorCode.Replay, "already received");
  });

  it("never folds in an update whose row could not be written, and says nothing of SQLite", async () => {
    rig = new Rig();
    const update = rig.seal("a");
    const sink = rig.intake.begin("a", rig.header(update));
    for (const [i, chunk] of update.chunks.entries()) sink.addChunk(i, chunk);
    // A row under a's upload id appears before the upload finishes (what a bug or a race would
    // leave): the accepted row cannot be written.
    rig.store.recordUpdate({
      uploadId: update.manifest.uploadId,
      round: 1,
      attempt: 1,
      siteId: "a",
      taskId: "task-a",
      modelVersion: 0,
      contentSha256: "0".repeat(64),
      numExamples: 1,
      plaintextBytes: 1,
      status: "rejected",
      reason: "planted",
      trainMetrics: {},
      receivedAtMs: 0,
      signed: null,
    });
    await expect(sink.finish()).rejects.toMatchObject({
      code: ErrorCode.Internal,
      message: "internal error (see the coordinator's log)",
    });
    expect(rig.logs.some((line) => line.includes("UNIQUE constraint failed"))).toBe(true);
    expect(rig.aggregation.acceptedCount).toBe(0);
    expect(rig.acceptedRows()).toEqual([]);
  });
});

describe("the declared size", () => {
  it("is checked against what the round's shared tensors serialise to, before any chunk is read", () => {
    rig = new Rig();
    const canonical = serializedLength(rig.global.manifest);
    expect(canonical).toBe(serializeWeights(rig.global).length);
    const { manifest } = rig.seal("a");
    const huge = rig.resign("a", manifest, { plaintextBytes: 1 << 20, numChunks: 1 });
    expectFlError(() => rig!.intake.begin("a", huge), ErrorCode.TooLarge, `${canonical} bytes serialised`);
    const tiny = rig.resign("a", manifest, {
      uploadId: "another",
      plaintextBytes: 8 + 6 * 4 - 1,
      numChunks: 1,
    });
    expectFlError(() => rig!.intake.begin("a", tiny), ErrorCode.WeightsShapeMismatch, "smaller than");
  });

  it("allows a header laid out differently (indented JSON), as another client may write it", async () => {
    rig = new Rig();
    const canonical = serializeWeights(rig.global);
    const headerLength = new DataView(canonical.buffer).getUint32(4, true);
    const text = new TextDecoder().decode(canonical.subarray(8, 8 + headerLength));
    const indented = new TextEncoder().encode(JSON.stringify(JSON.parse(text), null, 2));
    const padded = Math.ceil((8 + indented.length) / 4) * 4;
    const blob = new Uint8Array(padded + 24);
    blob.set(canonical.subarray(0, 4), 0);
    new DataView(blob.buffer).setUint32(4, indented.length, true);
    blob.set(indented, 8);
    blob.set(canonical.subarray(canonical.length - 24), padded);
    expect(blob.length).toBeGreaterThan(canonical.length);
    const identity = rig.identity("a");
    const key = sharedKey(identity.encryption.secretKey, rig.coordinator.encryption.publicKey);
    const update = sealUpdateInThread({
      delta: rig.global,
      identity,
      key,
      federationId: "f",
      round: 1,
      modelVersion: 0,
      taskId: "task-a",
      numExamples: 10,
    });
    // The same delta, serialised with the indented header, sealed by hand.
    const { uploadId, noncePrefix } = createUploadParams();
    const manifest = {
      ...update.manifest,
      uploadId,
      noncePrefix,
      contentSha256: sha256Hex(blob),
      plaintextBytes: blob.length,
      numChunks: 1,
    };
    const sealed = {
      manifest,
      signature: signManifest(manifest, identity),
      chunks: [encryptChunk(blob, 0, noncePrefix, key)],
    };
    expect(await rig.upload("a", sealed)).toBe("accepted");
  });
});

describe("one upload per site and task at a time", () => {
  it("refuses a second stream while the first is in flight, without touching the first", async () => {
    rig = new Rig();
    const first = rig.seal("a", 1);
    const sink = rig.intake.begin("a", rig.header(first));
    const second = rig.seal("a", 2);
    const error = expectFlError(() => rig!.intake.begin("a", rig!.header(second)), ErrorCode.RateLimited);
    expect(error.message).toBe(
      `site "a" already has upload ${first.manifest.uploadId} in progress for task task-a; wait for its verdict before sending another`,
    );
    expect(rig.store.listUpdates()).toEqual([]);
    for (const [i, chunk] of first.chunks.entries()) sink.addChunk(i, chunk);
    await sink.finish();
    expect(rig.acceptedRows()).toEqual(["a"]);
  });

  it("frees the slot when the client cancels: the site can send again at once", async () => {
    rig = new Rig();
    const first = rig.seal("a", 1);
    rig.intake.begin("a", rig.header(first)).abort("client cancelled");
    expect(await rig.upload("a", rig.seal("a", 2))).toBe("accepted");
  });

  it("ends an upload whose next chunk is overdue, and one that takes too long, freeing the slot", async () => {
    rig = new Rig({ idleTimeoutMs: 5_000, deadlineMs: 12_000 });
    const ended: FlError[] = [];
    const slow = rig.seal("a", 1, 8);
    const idle = rig.intake.begin("a", rig.header(slow), (reason) => ended.push(reason));
    idle.addChunk(0, slow.chunks[0]!);
    await rig.clock.advance(4_999);
    idle.addChunk(1, slow.chunks[1]!);
    await rig.clock.advance(4_999);
    expect(ended).toEqual([]);
    await rig.clock.advance(1);
    expect(ended.map((e) => [e.code, e.message])).toEqual([
      [ErrorCode.Timeout, "no chunk arrived for 5 s (limits.uploadIdleTimeoutSec); send the upload again"],
    ]);
    expectFlError(() => idle.addChunk(2, slow.chunks[2]!), ErrorCode.Timeout);

    // A chunk every 4 s keeps it from idling, but not past the 12 s deadline.
    const trickle = rig.seal("a", 1, 8);
    const sink = rig.intake.begin("a", rig.header(trickle), (reason) => ended.push(reason));
    for (let i = 0; i < 3; i++) {
      sink.addChunk(i, trickle.chunks[i]!);
      await rig.clock.advance(4_000);
    }
    expect(ended.map((e) => e.message)).toHaveLength(2);
    expect(ended[1]?.message).toBe(
      "the upload took longer than 12 s (limits.uploadDeadlineSec); send it again",
    );
    expect(rig.store.listUpdates()).toEqual([]);
    expect(await rig.upload("a", rig.seal("a"))).toBe("accepted");
  });

  it("ends the uploads still in flight when the round closes", () => {
    rig = new Rig();
    const ended: string[] = [];
    const update = rig.seal("a");
    rig.intake.begin("a", rig.header(update), (reason) => ended.push(reason.code));
    rig.intake.close();
    expect(ended).toEqual([ErrorCode.WrongRound]);
  });
});

describe("the per-site rate of upload attempts", () => {
  it("refuses attempts beyond the burst until the bucket refills, for that site only", async () => {
    rig = new Rig({ burst: 3, attemptsPerMinute: 6 });
    const broken = { ...rig.header(rig.seal("a")), signature: new Uint8Array(64) };
    for (let i = 0; i < 3; i++)
      expectFlError(() => rig!.intake.begin("a", broken), ErrorCode.SignatureInvalid);
    const error = expectFlError(() => rig!.intake.begin("a", broken), ErrorCode.RateLimited);
    expect(error.message).toBe(
      `site "a" made more than 3 upload attempts in a row (6 per minute allowed); retry in 10 s`,
    );
    expect(await rig.upload("b", rig.seal("b"))).toBe("accepted");
    await rig.clock.advance(9_999);
    expect(await rig.upload("a", rig.seal("a"))).toBe(ErrorCode.RateLimited);
    await rig.clock.advance(1);
    expect(await rig.upload("a", rig.seal("a"))).toBe("accepted");
    expect(rig.logs.filter((line) => line.includes("over the rate limit"))).toHaveLength(1);
  });
});
