import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { FederationClient } from "../../../proto/gen/fl/v1/federation.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { isFlError } from "../../../shared/src/errors.js";
import type { RequestAuth } from "../../../shared/src/fl/messages.js";
import { callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import { createManifest } from "../../../shared/src/weights/index.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

let harness: Harness | undefined;
const sites: FakeSite[] = [];

afterEach(async () => {
  for (const s of sites.splice(0)) s.close();
  await harness?.close();
  harness = undefined;
});

async function joinAll(h: Harness, ids: string[]): Promise<FakeSite[]> {
  const joined = ids.map((id) => new FakeSite(h.address, h.sites.get(id)!, publicIdentity(h.coordinator)));
  for (const s of joined) await s.join();
  sites.push(...joined);
  return joined;
}

describe("a federated run over real gRPC", () => {
  it("aggregates two rounds with FedAvg weighted by example counts (hand-computed)", async () => {
    harness = await startHarness({
      siteIds: ["a", "b", "c"],
      plan: {
        phases: [
          {
            name: "p",
            task: "classify",
            rounds: 2,
            train: { epochs: 1, batchSize: 1, learningRate: 1, classWeighting: "none", maxStepsPerRound: 0 },
          },
        ],
      },
    });
    const [a, b, c] = await joinAll(harness, ["a", "b", "c"]);
    // Round 1: deltas 1, 2, 4 with 10, 30, 60 examples: (10·1 + 30·2 + 60·4) / 100 = 3.1
    // Round 2: deltas -1, 0, 1 with 1, 1, 2 examples: (-1 + 0 + 2) / 4 = 0.25
    const script: Array<Array<[FakeSite, number, number]>> = [
      [
        [a!, 1, 10],
        [b!, 2, 30],
        [c!, 4, 60],
      ],
      [
        [a!, -1, 1],
        [b!, 0, 1],
        [c!, 1, 2],
      ],
    ];
    for (const round of script) {
      await Promise.all(
        round.map(async ([site, delta, n]) => {
          const task = await site.nextTask();
          if (task === "done") throw new Error("unexpected done");
          const global = await site.download(task);
          const verdict = await site.upload(site.pack(task, global, delta, n));
          expect(verdict).toMatchObject({ accepted: true });
        }),
      );
    }
    await waitFor(() => harness!.store.lastCompletedRound() === 2);
    const latest = harness.store.latestCheckpoint()!;
    expect(latest.version).toBe(2);
    const { readFileSync } = await import("node:fs");
    const { deserializeWeights } = await import("../../../shared/src/weights/index.js");
    const final = deserializeWeights(new Uint8Array(readFileSync(latest.path)));
    const expected = [1, 2, 3, 4, 5, 6].map((v) => v + 3.1 + 0.25);
    for (const [i, v] of final.values.entries()) expect(v).toBeCloseTo(expected[i]!, 5);
    expect(harness.store.listUpdates().filter((u) => u.status === "accepted")).toHaveLength(6);
    const types = harness.events.map((e) => e.type);
    expect(types.filter((t) => t === "round.completed")).toHaveLength(2);
    expect(types.filter((t) => t === "update.accepted")).toHaveLength(6);
    expect(types).toContain("site.joined");
  });

  it("rejects tampered, replayed, wrong-round, wrong-shape, non-finite and forged updates, and the round goes on", async () => {
    const ids = ["tamper", "nan", "shape", "forge", "good"];
    harness = await startHarness({
      siteIds: ids,
      plan: {
        minSites: 1,
        minAvailableSites: ids.length,
        phases: [{ name: "p", task: "classify", rounds: 1 }],
      },
    });
    const joined = await joinAll(harness, ids);
    const [tamper, nan, shape, forge, good] = await Promise.all(
      joined.map(async (site) => {
        const task = await site.nextTask();
        if (task === "done") throw new Error("unexpected done");
        return { site, task, global: await site.download(task) };
      }),
    );
    const send = (
      s: typeof good,
      ...args: Parameters<FakeSite["pack"]> extends [unknown, unknown, ...infer R] ? R : never
    ) => s!.site.upload(s!.site.pack(s!.task, s!.global, ...args));

    // Stale or forged headers leave the task open: the same site can still deliver.
    expect(await send(forge, 0.5, 5, { round: forge!.task.round + 1 })).toMatchObject({
      accepted: false,
      reasonCode: "FL_WRONG_ROUND",
    });
    expect(await send(forge, 0.5, 5, { modelVersion: forge!.task.modelVersion + 1 })).toMatchObject({
      accepted: false,
      reasonCode: "FL_WRONG_ROUND",
    });
    const forged = forge!.site.pack(forge!.task, forge!.global, 0.5, 5);
    expect(await forge!.site.upload({ ...forged, signature: new Uint8Array(64) })).toMatchObject({
      accepted: false,
      reasonCode: "FL_SIGNATURE_INVALID",
    });

    const tampered = tamper!.site.pack(tamper!.task, tamper!.global, 0.5, 5);
    const flipped = tampered.chunks.map((c) => c.slice());
    flipped[0]![3]! ^= 0xff;
    expect(await tamper!.site.upload({ ...tampered, chunks: flipped })).toMatchObject({
      accepted: false,
      reasonCode: "FL_DECRYPTION_FAILED",
    });
    expect(await send(nan, (i) => (i === 3 ? Number.NaN : 0.5), 5)).toMatchObject({
      accepted: false,
      reasonCode: "FL_NON_FINITE",
    });
    const wrongShape = shape!.site.pack(shape!.task, shape!.global, 0.5, 5, {
      delta: { manifest: createManifest([{ name: "w", shape: [3, 2] }]), values: new Float32Array(6) },
    });
    expect(await shape!.site.upload(wrongShape)).toMatchObject({
      accepted: false,
      reasonCode: "FL_WEIGHTS_SHAPE_MISMATCH",
    });

    const ok = good!.site.pack(good!.task, good!.global, 0.5, 5);
    expect(await good!.site.upload(ok)).toMatchObject({ accepted: true });
    expect(await good!.site.upload(ok)).toMatchObject({ accepted: false, reasonCode: "FL_REPLAY" });
    expect(await send(forge, 0.25, 5)).toMatchObject({ accepted: true });

    await waitFor(() => harness!.store.lastCompletedRound() === 1);
    const round = harness.store.listRounds().find((r) => r.status === "completed")!;
    expect(round.acceptedCount).toBe(2);
    expect(round.failures.map((f) => [f.siteId, f.reason.split(":")[1]?.trim()]).sort()).toEqual([
      ["nan", "FL_NON_FINITE"],
      ["shape", "FL_WEIGHTS_SHAPE_MISMATCH"],
      ["tamper", "FL_DECRYPTION_FAILED"],
    ]);
    // The forged upload is published but not stored: nothing of an unverified manifest is kept.
    const rejected = harness.store
      .listUpdates()
      .filter((u) => u.status === "rejected")
      .map((u) => u.reason?.split(":")[0]);
    expect(rejected.sort()).toEqual(
      [
        "FL_DECRYPTION_FAILED",
        "FL_NON_FINITE",
        "FL_WEIGHTS_SHAPE_MISMATCH",
        "FL_WRONG_ROUND",
        "FL_WRONG_ROUND",
      ].sort(),
    );
    expect(harness.events.filter((e) => e.type === "update.rejected").length).toBe(7);
  });

  it("rejects an update larger than the configured limit before reading its chunks", async () => {
    harness = await startHarness({
      siteIds: ["a"],
      maxUpdateBytes: 64,
      plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    });
    const [a] = await joinAll(harness, ["a"]);
    const task = await a!.nextTask();
    if (task === "done") throw new Error("unexpected done");
    const global = await a!.download(task);
    expect(await a!.upload(a!.pack(task, global, 1, 2))).toMatchObject({
      accepted: false,
      reasonCode: "FL_TOO_LARGE",
    });
  });

  it("uploads and aggregates only the tensors a phase shares; the task tells the site which", async () => {
    harness = await startHarness({
      siteIds: ["a"],
      plan: {
        minSites: 1,
        phases: [
          { name: "all", task: "classify", rounds: 1 },
          { name: "head-local", task: "classify", rounds: 1, local: ["b"] },
        ],
      },
    });
    const [a] = await joinAll(harness, ["a"]);
    const first = await a!.nextTask();
    if (first === "done") throw new Error("unexpected done");
    const global1 = await a!.download(first);
    expect(await a!.upload(a!.pack(first, global1, 1, 1))).toMatchObject({ accepted: true });

    const second = await a!.nextTask();
    if (second === "done") throw new Error("unexpected done");
    expect(second).toMatchObject({ kind: "train", spec: { local: ["b"], roundInPhase: 1 } });
    const global2 = await a!.download(second);
    expect(await a!.upload(a!.pack(second, global2, 1, 1))).toMatchObject({
      accepted: false,
      reasonCode: "FL_WEIGHTS_SHAPE_MISMATCH",
    });
  });

  it("applies only the shared tensors of a phase", async () => {
    harness = await startHarness({
      siteIds: ["a"],
      plan: { minSites: 1, phases: [{ name: "head-local", task: "classify", rounds: 1, local: ["b"] }] },
    });
    const [a] = await joinAll(harness, ["a"]);
    const task = await a!.nextTask();
    if (task === "done") throw new Error("unexpected done");
    const global = await a!.download(task);
    const onlyW = {
      manifest: createManifest([{ name: "w", shape: [2, 2] }]),
      values: Float32Array.from([1, 1, 1, 1]),
    };
    expect(await a!.upload(a!.pack(task, global, 0, 3, { delta: onlyW }))).toMatchObject({ accepted: true });
    await waitFor(() => harness!.store.lastCompletedRound() === 1);
    const { readFileSync } = await import("node:fs");
    const { deserializeWeights } = await import("../../../shared/src/weights/index.js");
    const next = deserializeWeights(new Uint8Array(readFileSync(harness.store.latestCheckpoint()!.path)));
    // w moved by the delta, b (local in this phase) kept its value
    expect(Array.from(next.values)).toEqual([2, 3, 4, 5, 5, 6]);
  });

  it("starts a phase from its initial model with the re-initialised tensors reset and the rest carried over", async () => {
    harness = await startHarness({
      siteIds: ["a"],
      plan: {
        minSites: 1,
        phases: [
          { name: "pretrain", task: "classify", rounds: 1 },
          { name: "finetune", task: "classify", rounds: 1, reinitialize: ["b"] },
        ],
      },
    });
    const [a] = await joinAll(harness, ["a"]);
    const first = await a!.nextTask();
    if (first === "done") throw new Error("unexpected done");
    expect(await a!.upload(a!.pack(first, await a!.download(first), 1, 1))).toMatchObject({ accepted: true });
    const second = await a!.nextTask();
    if (second === "done") throw new Error("unexpected done");
    // v1 = initial + 1 = [2, 3, 4, 5, 6, 7]; entering "finetune" resets b to its initial [5, 6] as v2.
    expect(second.modelVersion).toBe(2);
    const entered = await a!.download(second);
    expect(Array.from(entered.values)).toEqual([2, 3, 4, 5, 5, 6]);
    expect(await a!.upload(a!.pack(second, entered, 0, 1))).toMatchObject({ accepted: true });
    await waitFor(() => harness!.store.lastCompletedRound() === 2);
    expect(harness.store.latestCheckpoint()?.version).toBe(3);
    expect(harness.store.getMeta("phase.entered.finetune")).toBe("2");
  });

  it("ends a task at once when the site reports that it gave up", async () => {
    harness = await startHarness({
      siteIds: ["a", "b"],
      plan: { minSites: 1, minAvailableSites: 2, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    });
    const [a, b] = await joinAll(harness, ["a", "b"]);
    const [ta, tb] = await Promise.all([a!.nextTask(), b!.nextTask()]);
    if (ta === "done" || tb === "done") throw new Error("unexpected done");
    const gaveUp = { taskId: tb.taskId, progress: 0.1, status: "failed", failure: "cannot read images" };
    const auth = b!.session.authorize(SessionMethod.Heartbeat, callBody.heartbeat(gaveUp));
    expect(b!.session.checkHeartbeatAck(auth, await b!.connection.heartbeat(auth, gaveUp))).toEqual({
      taskActive: false,
    });
    expect(await a!.upload(a!.pack(ta, await a!.download(ta), 1, 1))).toMatchObject({ accepted: true });
    await waitFor(() => harness!.store.lastCompletedRound() === 1, 5_000);
    const round = harness.store.listRounds().find((r) => r.status === "completed")!;
    expect(round.failures).toEqual([{ siteId: "b", reason: "the site gave up: cannot read images" }]);
  });

  it("refuses unknown sites and bad join signatures alike, so that nobody learns who is enrolled", async () => {
    harness = await startHarness({ siteIds: ["a"] });
    const { generateIdentity, signJoin } = await import("../../../shared/src/crypto/index.js");
    const stranger = new FakeSite(
      harness.address,
      generateIdentity("stranger"),
      publicIdentity(harness.coordinator),
    );
    sites.push(stranger);
    const unknown = await stranger.join().catch((e: unknown) => e);
    expect(isFlError(unknown, "FL_UNKNOWN_SITE")).toBe(true);
    expect((unknown as Error).message).toContain(
      "not enrolled with this coordinator, or its signature does not verify",
    );

    // An impostor holding a different key for an enrolled id.
    const impostor = generateIdentity("a");
    const conn = new FakeSite(harness.address, impostor, publicIdentity(harness.coordinator));
    sites.push(conn);
    const challenge = await conn.connection.getChallenge({ siteId: "a", clientNonce: new Uint8Array(32) });
    const joined = await conn.connection
      .join({
        siteId: "a",
        challenge: challenge.challenge,
        signature: Buffer.from(
          signJoin(impostor, challenge.federationId, new Uint8Array(challenge.challenge)),
        ),
      })
      .catch((e: unknown) => e);
    expect(isFlError(joined, "FL_UNKNOWN_SITE")).toBe(true);
    expect((joined as Error).message).toBe((unknown as Error).message.replace('"stranger"', '"a"'));
    const noSession = await conn.connection
      .pullTask({ sessionToken: "not-a-token", sequence: 1, mac: new Uint8Array(32) }, 10)
      .catch((e: unknown) => e);
    expect(isFlError(noSession, "FL_UNAUTHENTICATED")).toBe(true);
  });

  it("keeps the task open when a client disappears mid-upload, and accepts its retry", async () => {
    harness = await startHarness({
      siteIds: ["a"],
      plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    });
    const [a] = await joinAll(harness, ["a"]);
    const task = await a!.nextTask();
    if (task === "done") throw new Error("unexpected done");
    const global = await a!.download(task);
    const packed = a!.pack(task, global, 1, 3, { chunkSize: 16 });
    expect(packed.chunks.length).toBeGreaterThan(3);

    const raw = new FederationClient(harness.address, grpc.credentials.createInsecure());
    const broken = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = raw.uploadUpdate((error) => resolve(error));
      call.write({
        part: {
          $case: "header",
          value: {
            ...wireAuth(
              a!.session.authorize(
                SessionMethod.UploadUpdate,
                callBody.uploadUpdate({ signature: packed.signature, trainMetrics: {} }),
              ),
            ),
            manifest: packed.manifest,
            signature: Buffer.from(packed.signature),
            trainMetrics: {},
          },
        },
      });
      call.write({
        part: { $case: "chunk", value: { index: 0, ciphertext: Buffer.from(packed.chunks[0]!) } },
      });
      setTimeout(() => call.cancel(), 100);
    });
    raw.close();
    expect(broken?.code).toBe(grpc.status.CANCELLED);
    expect(harness.store.lastCompletedRound()).toBe(0);

    expect(await a!.upload(a!.pack(task, global, 1, 3, { chunkSize: 16 }))).toMatchObject({ accepted: true });
    await waitFor(() => harness!.store.lastCompletedRound() === 1);
  });

  it("fails the task of a client that stops heartbeating, and completes the round with the others", async () => {
    harness = await startHarness({
      siteIds: ["a", "b"],
      heartbeatTimeoutMs: 1500,
      plan: { minSites: 1, minAvailableSites: 2, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    });
    const [a, b] = await joinAll(harness, ["a", "b"]);
    const [ta, tb] = await Promise.all([a!.nextTask(), b!.nextTask()]);
    if (ta === "done" || tb === "done") throw new Error("unexpected done");
    // b goes silent; a delivers.
    const global = await a!.download(ta);
    expect(await a!.upload(a!.pack(ta, global, 2, 4))).toMatchObject({ accepted: true });
    await waitFor(() => harness!.store.lastCompletedRound() === 1, 10_000);
    const round = harness.store.listRounds().find((r) => r.status === "completed")!;
    expect(round.acceptedCount).toBe(1);
    expect(round.failures).toEqual([{ siteId: "b", reason: expect.stringContaining("missed heartbeats") }]);
    expect(harness.events.some((e) => e.type === "site.left" && e.siteId === "b")).toBe(true);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

function wireAuth(auth: RequestAuth): { sessionToken: string; sequence: number; mac: Buffer } {
  return { sessionToken: auth.sessionToken, sequence: auth.sequence, mac: Buffer.from(auth.mac) };
}
