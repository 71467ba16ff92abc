import { afterEach, describe, expect, it } from "vitest";
import { SiteNode } from "../../../client/src/node.js";
import type { SiteTrainer } from "../../../client/src/training/trainer.js";
import { unlimitedSlots } from "../../../client/src/training-slots.js";
import { GrpcCoordinatorPort } from "../../../client/src/transport/grpc/coordinator-client.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { RequestAuth } from "../../../shared/src/fl/messages.js";
import type { CoordinatorPort } from "../../../shared/src/fl/ports.js";
import { callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

/**
 * The client gives a download 600 s; an error the coordinator knows at once must arrive at once,
 * as its status, so that the site rejoins or gives up instead of waiting that long.
 */
const PROMPT_MS = 10_000;

let harness: Harness | undefined;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await harness?.close();
  harness = undefined;
});

/** The download's error and how long it took to arrive; fails instead of waiting past PROMPT_MS. */
async function downloadError(download: () => Promise<unknown>): Promise<{ error: FlError; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${PROMPT_MS} ms`)), PROMPT_MS);
  });
  try {
    await Promise.race([download(), late]);
  } catch (error) {
    if (!(error instanceof FlError)) throw error;
    return { error, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
  throw new Error("the download succeeded");
}

async function joinedSite(h: Harness): Promise<FakeSite> {
  const site = new FakeSite(h.address, h.sites.get("a")!, publicIdentity(h.coordinator));
  closers.push(() => site.close());
  await site.join();
  return site;
}

describe("DownloadModel errors over real gRPC", () => {
  it("answers an unknown session token with Unauthenticated at once", async () => {
    harness = await startHarness({ siteIds: ["a"] });
    const site = await joinedSite(harness);
    const task = await site.nextTask();
    if (task === "done") throw new Error("unexpected done");

    const { error, ms } = await downloadError(() =>
      site.connection.downloadModel(
        { sessionToken: "no-such-session", sequence: 1, mac: new Uint8Array(32) },
        task.modelVersion,
        task.modelSha256,
      ),
    );

    expect(error.code).toBe(ErrorCode.Unauthenticated);
    expect(error.message).toContain("join again");
    expect(ms).toBeLessThan(PROMPT_MS);
  });

  it("answers a model version that does not exist with NotFound at once", async () => {
    harness = await startHarness({ siteIds: ["a"] });
    const site = await joinedSite(harness);
    const task = await site.nextTask();
    if (task === "done") throw new Error("unexpected done");

    const { error, ms } = await downloadError(() =>
      site.connection.downloadModel(
        site.session.authorize(SessionMethod.DownloadModel, callBody.downloadModel(task.modelVersion + 41)),
        task.modelVersion + 41,
        task.modelSha256,
      ),
    );

    expect(error.code).toBe(ErrorCode.NotFound);
    expect(ms).toBeLessThan(PROMPT_MS);
  });

  it("lets a site whose session lapsed before its download rejoin and finish the round", async () => {
    harness = await startHarness({
      siteIds: ["a"],
      plan: { phases: [{ name: "p", task: "classify", rounds: 1 }] },
    });
    const grpcPort = new GrpcCoordinatorPort(harness.address, "insecure");
    closers.push(() => grpcPort.close());
    // The coordinator forgets the session between handing out the task and its download, as
    // after a restart or a missed sweep: the first download goes out with a token it never issued.
    let lapsed = false;
    const port: CoordinatorPort = Object.assign(Object.create(grpcPort) as GrpcCoordinatorPort, {
      downloadModel: (auth: RequestAuth, version: number, sha256: string) => {
        const sent = lapsed ? auth : { ...auth, sessionToken: "lapsed-session" };
        lapsed = true;
        return grpcPort.downloadModel(sent, version, sha256);
      },
    });
    const trainer: SiteTrainer = {
      train: async (_task, weights) => ({
        weights: { manifest: weights.manifest, values: weights.values.map((v) => v + 1) },
        numExamples: 4,
        metrics: { loss: 1 },
      }),
      evaluate: () => Promise.reject(new Error("no evaluation in this plan")),
    };
    const lines: string[] = [];
    const node = new SiteNode({
      identity: harness.sites.get("a")!,
      coordinator: publicIdentity(harness.coordinator),
      federationId: "test",
      port,
      trainer,
      slots: unlimitedSlots,
      siteInfo: {
        trainClassCounts: [1, 1, 1, 1],
        trainUnlabelledCount: 0,
        validationCount: 0,
        testCount: 4,
        backend: "test",
        clientVersion: "test",
      },
      reconnectTimeoutMs: 5000,
      log: (line) => lines.push(line),
    });

    const started = Date.now();
    const finished = await Promise.race([
      node.run(),
      new Promise<"late">((resolve) => setTimeout(() => resolve("late"), PROMPT_MS).unref()),
    ]);
    if (finished === "late") node.stop();

    expect(finished).not.toBe("late");
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    expect(lines).toContain(
      "session no longer valid: unknown session (the coordinator restarted since it was granted, or it ended long ago); joining again",
    );
    expect(lines.filter((l) => l.startsWith("joined federation"))).toHaveLength(2);
    expect(lines.some((l) => l.includes("update accepted"))).toBe(true);
    expect((await harness.run).status).toBe("completed");
  });
});
