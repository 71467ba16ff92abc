import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { openingPool } from "../../../coordinator/src/federation/opening-pool.js";
import { startGrpcServer } from "../../../coordinator/src/transport/grpc/service.js";
import { FederationClient, type UploadVerdict } from "../../../proto/gen/fl/v1/federation.js";
import { publicIdentity, signManifest, type UpdateManifest } from "../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import type { SealedUpdate } from "../../../shared/src/fl/messages.js";
import type { CoordinatorService } from "../../../shared/src/fl/ports.js";
import { callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import type { FlTask } from "../../../shared/src/fl/task.js";
import { createManifest } from "../../../shared/src/weights/index.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** 2 Mi float32 parameters: each upload of it reserves 8 MiB on the coordinator. */
const PARAMETERS = 2 << 20;
const MODEL_MIB = (PARAMETERS * 4) / 2 ** 20;

let harness: Harness | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await harness?.close();
  harness = undefined;
});

/** One raw UploadUpdate stream of a joined site: the header is sent, the chunks when asked. */
class RawUpload {
  readonly verdict: Promise<UploadVerdict | { error: string }>;
  private readonly call: grpc.ClientWritableStream<unknown>;

  constructor(client: FederationClient, site: FakeSite, update: SealedUpdate) {
    let call!: grpc.ClientWritableStream<unknown>;
    this.verdict = new Promise((resolve) => {
      call = client.uploadUpdate((error, verdict) =>
        resolve(error ? { error: `${error.code}: ${error.details}` } : verdict),
      ) as grpc.ClientWritableStream<unknown>;
    });
    this.call = call;
    const trainMetrics = { loss: 1 };
    const auth = site.session.authorize(
      SessionMethod.UploadUpdate,
      callBody.uploadUpdate({ signature: update.signature, trainMetrics }),
    );
    call.write({
      part: {
        $case: "header",
        value: {
          sessionToken: auth.sessionToken,
          sequence: auth.sequence,
          mac: Buffer.from(auth.mac),
          manifest: update.manifest,
          signature: Buffer.from(update.signature),
          trainMetrics,
        },
      },
    });
  }

  finish(update: SealedUpdate): void {
    for (const [index, ciphertext] of update.chunks.entries())
      this.call.write({ part: { $case: "chunk", value: { index, ciphertext: Buffer.from(ciphertext) } } });
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }
}

async function openRound(): Promise<{
  site: FakeSite;
  client: FederationClient;
  task: FlTask;
  update: SealedUpdate;
}> {
  harness = await startHarness({
    siteIds: ["a"],
    plan: { roundTimeoutSec: 120 },
    maxUpdateBytes: 512 << 20,
    initial: {
      manifest: createManifest([{ name: "w", shape: [PARAMETERS] }]),
      values: new Float32Array(PARAMETERS),
    },
  });
  const site = new FakeSite(harness.address, harness.sites.get("a")!, publicIdentity(harness.coordinator));
  closers.push(() => site.close());
  await site.join();
  const task = await site.nextTask();
  if (task === "done") throw new Error("unexpected done");
  const update = site.pack(task, await site.download(task), 0.5, 10);
  const client = new FederationClient(harness.address, grpc.credentials.createInsecure());
  closers.push(() => client.close());
  return { site, client, task, update };
}

/** The same update under another upload id, signed by the site: a distinct, valid header. */
function withUploadId(site: FakeSite, update: SealedUpdate, uploadId: string): SealedUpdate {
  const manifest: UpdateManifest = { ...update.manifest, uploadId };
  return { ...update, manifest, signature: signManifest(manifest, site.identity) };
}

/** ArrayBuffer memory once garbage is gone (backing stores are freed after the collection). */
async function reservedMiB(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // An upload's plaintext buffer is on an opening thread, outside this isolate's arrayBuffers.
  return (process.memoryUsage().arrayBuffers + openingPool.reservedBytes()) / 2 ** 20;
}

describe("UploadUpdate streams of one site over real gRPC", () => {
  it("50 streams for one task: one is received, 49 are refused before anything is reserved", async () => {
    const { site, client, update } = await openRound();
    const before = { reserved: await reservedMiB(), rss: process.memoryUsage().rss / 2 ** 20 };
    const streams = Array.from(
      { length: 50 },
      (_, i) => new RawUpload(client, site, i === 0 ? update : withUploadId(site, update, `extra-${i}`)),
    );
    const refused = await Promise.all(streams.slice(1).map((stream) => stream.verdict));
    const during = { reserved: await reservedMiB(), rss: process.memoryUsage().rss / 2 ** 20 };
    expect(new Set(refused.map((v) => ("reasonCode" in v ? v.reasonCode : v.error)))).toEqual(
      new Set([ErrorCode.RateLimited]),
    );
    // One upload's buffer, not fifty: before the limits, each stream reserved its declared size.
    expect(during.reserved - before.reserved).toBeLessThan(2 * MODEL_MIB);
    streams[0]!.finish(update);
    expect(await streams[0]!.verdict).toMatchObject({ accepted: true });
    console.log(
      `50 UploadUpdate streams, ${MODEL_MIB} MiB update: arrayBuffers ${before.reserved.toFixed(0)} → ${during.reserved.toFixed(0)} MiB, rss ${before.rss.toFixed(0)} → ${during.rss.toFixed(0)} MiB`,
    );
  }, 60_000);

  it("frees what an upload reserved when its client cancels, and takes the site's next upload", async () => {
    const { site, client, update } = await openRound();
    const before = await reservedMiB();
    const cancelled = new RawUpload(client, site, update);
    // The header is in once the coordinator holds the upload: a second one is refused as busy.
    const busy = await new RawUpload(client, site, withUploadId(site, update, "probe")).verdict;
    expect(busy).toMatchObject({ accepted: false, reasonCode: ErrorCode.RateLimited });
    expect((await reservedMiB()) - before).toBeGreaterThan(MODEL_MIB / 2);
    cancelled.cancel();
    await cancelled.verdict;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await reservedMiB()) - before).toBeLessThan(MODEL_MIB / 2);
    expect(await site.upload(withUploadId(site, update, "again"))).toEqual({ accepted: true });
  }, 60_000);

  it("sends FL_INTERNAL with no text of its cause, which goes to the coordinator's log", async () => {
    const logs: string[] = [];
    const failing = {
      beginUpload: () => {
        throw new Error("SqliteError: UNIQUE constraint failed: updates.upload_id");
      },
    } as unknown as CoordinatorService;
    const server = await startGrpcServer(failing, {
      listen: "127.0.0.1:0",
      security: "insecure",
      log: (line) => logs.push(line),
    });
    closers.push(() => server.server.forceShutdown());
    const client = new FederationClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    closers.push(() => client.close());
    const verdict = await new Promise<UploadVerdict>((resolve, reject) => {
      const call = client.uploadUpdate((error, answer) => (error ? reject(error) : resolve(answer)));
      call.write({
        part: {
          $case: "header",
          value: {
            sessionToken: "t",
            sequence: 1,
            mac: Buffer.alloc(32),
            manifest: {
              federationId: "f",
              siteId: "a",
              round: 1,
              modelVersion: 0,
              taskId: "t",
              uploadId: "u",
              noncePrefix: "AAAAAAAAAAAAAAAAAAAAAA==",
              contentSha256: "0".repeat(64),
              plaintextBytes: 1,
              numChunks: 1,
              numExamples: 1,
              createdAtMs: 0,
            },
            signature: Buffer.alloc(64),
            trainMetrics: {},
          },
        },
      });
      call.end();
    });
    expect(verdict).toEqual({
      accepted: false,
      reasonCode: ErrorCode.Internal,
      message: "internal error (see the coordinator's log)",
    });
    expect(logs.join("\n")).toContain("UNIQUE constraint failed");
  });
});
