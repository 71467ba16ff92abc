import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { sealPayload } from "../../../client/src/seal-update.js";
import { runSecAggSession, type SecAggSessionResult } from "../../../client/src/secagg-session.js";
import { SecureAggregationConfigSchema, secAggFracBits } from "../../../coordinator/src/secagg-config.js";
import { type Identity, publicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import type { RequestAuth } from "../../../shared/src/fl/messages.js";
import type { CoordinatorPort } from "../../../shared/src/fl/ports.js";
import { secAggMeanBound } from "../../../shared/src/fl/secagg-contribution.js";
import type { SecAggRequest } from "../../../shared/src/fl/secagg-exchange.js";
import { callBody, SessionMethod } from "../../../shared/src/fl/session-calls.js";
import type { FlTask } from "../../../shared/src/fl/task.js";
import { deserializeWeights } from "../../../shared/src/weights/index.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";
import { tinyWeights } from "../../helpers/tiny-weights.js";

/**
 * Secure aggregation over the real gRPC service: a real coordinator (SQLite, gRPC on port 0)
 * and sites that run the production client session (client/src/secagg-session.ts) over the
 * production gRPC adapter, with deltas the test chooses so that the FedAvg mean is known.
 */

const SECAGG = { clip: 4, stageTimeoutSec: 2 };

let harness: Harness | undefined;
const sites: FakeSite[] = [];
afterEach(async () => {
  for (const site of sites.splice(0)) site.close();
  await harness?.close();
  harness = undefined;
});

async function start(siteIds: string[], plan: Record<string, unknown> = {}): Promise<Harness> {
  harness = await startHarness({
    siteIds,
    plan: {
      phases: [{ name: "p", task: "classify", rounds: 1 }],
      minSites: 3,
      // Every site is in the cohort: the round waits until all have joined.
      minAvailableSites: siteIds.length,
      secureAggregation: SECAGG,
      roundTimeoutSec: 30,
      // The plan's end evaluates the final model; these sites do not evaluate, so do not wait long.
      evaluationTimeoutSec: 1,
      ...plan,
    },
  });
  return harness;
}

async function joinSite(h: Harness, id: string): Promise<FakeSite> {
  const site = new FakeSite(h.address, h.sites.get(id) as Identity, publicIdentity(h.coordinator));
  sites.push(site);
  await site.join();
  return site;
}

/** Where a site crashes: before sending this message of the protocol. */
type DropAt = "share-keys" | "masked-input" | "unmask-response";

interface Part {
  readonly delta: number[];
  readonly numExamples: number;
  readonly dropAt?: DropAt;
}

/** The site's port, except that it dies instead of sending `dropAt`'s message. */
function dying(port: CoordinatorPort, dropAt: DropAt | undefined): CoordinatorPort {
  return new Proxy(port, {
    get(target, property) {
      if (property === "secAggExchange")
        return async (auth: RequestAuth, request: SecAggRequest) => {
          if (dropAt && request.message?.type === dropAt)
            throw new Error(`the site crashed before ${dropAt}`);
          return target.secAggExchange?.(auth, request);
        };
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function takePart(site: FakeSite, part: Part, cohort: number): Promise<SecAggSessionResult> {
  const task = await site.nextTask();
  if (task === "done" || task.kind !== "train") throw new Error("expected a training task");
  expect(task.spec.privacy).toMatchObject({ secureAggregation: true, cohort });
  return runSecAggSession({
    siteId: site.identity.id,
    port: dying(site.connection, part.dropAt),
    session: site.session,
    task,
    delta: Float32Array.from(part.delta),
    numExamples: part.numExamples,
    upload:
      part.dropAt === "masked-input"
        ? async () => {
            throw new Error("the site crashed before its masked input");
          }
        : (plaintext) => upload(site, task, plaintext, part.numExamples),
    ended: new AbortController().signal,
    log: () => {},
  });
}

async function upload(site: FakeSite, task: FlTask, plaintext: Uint8Array, numExamples: number) {
  const sealed = await sealPayload(
    {
      identity: site.identity,
      key: site.session.updateKey,
      federationId: site.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples,
    },
    plaintext,
  );
  return site.upload(sealed);
}

function checkpoint(h: Harness, version: number): Float32Array {
  const path = join(h.stateDir, "checkpoints", `model-v${String(version).padStart(5, "0")}.flw`);
  return deserializeWeights(readFileSync(path)).values;
}

describe("secure aggregation over gRPC", () => {
  it.each([
    ["after advertising its keys", "share-keys", ["a", "b", "c", "d"]],
    ["after sharing its keys", "masked-input", ["a", "b", "c", "d"]],
    // Its masked input is in the sum: the others' shares of its self mask take that mask out.
    ["during unmasking", "unmask-response", ["a", "b", "c", "d", "e"]],
  ] as const)(
    "commits FedAvg of the survivors' updates within the codec's bound, a site dropping %s",
    async (_, dropAt, survivorIds) => {
      const ids = ["a", "b", "c", "d", "e"];
      const h = await start(ids);
      const parts: Record<string, Part> = {
        a: { delta: [0.5, -0.25, 1.5, 0.003, -2, 0.1], numExamples: 10 },
        b: { delta: [-1, 0.75, 0.2, 0.004, 1, -0.3], numExamples: 40 },
        c: { delta: [0.125, 0.5, -0.9, -0.002, 0.5, 0.2], numExamples: 25 },
        d: { delta: [2, -1.5, 0.3, 0.001, -0.5, 0.05], numExamples: 100 },
        e: { delta: [3, 3, 3, 3, 3, 3], numExamples: 50, dropAt },
      };
      const joined = await Promise.all(ids.map((id) => joinSite(h, id)));
      const outcomes = await Promise.allSettled(
        joined.map((site) => takePart(site, parts[site.identity.id] as Part, ids.length)),
      );
      const run = await h.run;
      expect(run.status).toBe("completed");
      expect(outcomes.slice(0, 4).map((o) => o.status === "fulfilled" && o.value.kind)).toEqual(
        Array(4).fill("unmasked"),
      );
      expect(outcomes[4]?.status).toBe("rejected");

      // FedAvg of the survivors, computed here in float64: Σ nₖ·Δₖ / Σ nₖ.
      const survivors = survivorIds.map((id) => parts[id] as Part);
      const total = survivors.reduce((s, p) => s + p.numExamples, 0);
      const expected = tinyWeights().values.map(
        (_, i) => survivors.reduce((s, p) => s + p.numExamples * (p.delta[i] as number), 0) / total,
      );
      const config = SecureAggregationConfigSchema.parse(SECAGG);
      const bound = secAggMeanBound(
        { clip: config.clip, fracBits: secAggFracBits(config) },
        survivors.length,
        total / 100, // each site declared 100 training images: the weight scale
        Math.max(...expected.map(Math.abs)),
      );
      const v0 = checkpoint(h, 0);
      const v1 = checkpoint(h, 1);
      for (let i = 0; i < v0.length; i++) {
        const applied = (v1[i] as number) - (v0[i] as number);
        // v1 is stored as float32: its own rounding comes on top of the codec's bound.
        expect(Math.abs(applied - (expected[i] as number))).toBeLessThanOrEqual(
          bound + Math.abs(v1[i] as number) * 2 ** -23,
        );
      }
      // The weights matter: the unweighted mean is far outside the bound.
      const unweighted = survivors.reduce((s, p) => s + (p.delta[0] as number), 0) / survivors.length;
      expect(Math.abs(unweighted - (expected[0] as number))).toBeGreaterThan(1000 * bound);

      const round = h.store.listRounds().find((r) => r.round === 1);
      expect(round?.status).toBe("completed");
      expect(round?.metrics).toMatchObject({
        "secagg.survivors": survivorIds.length,
        "secagg.dropped": 5 - survivorIds.length,
        accepted: survivorIds.length,
      });
    },
    60_000,
  );

  it("aborts below the threshold, records why and reveals nothing", async () => {
    const ids = ["a", "b", "c"];
    const h = await start(ids);
    const parts: Record<string, Part> = {
      a: { delta: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], numExamples: 10 },
      b: { delta: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], numExamples: 10 },
      c: { delta: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], numExamples: 10, dropAt: "masked-input" },
    };
    const joined = await Promise.all(ids.map((id) => joinSite(h, id)));
    const outcomes = await Promise.allSettled(
      joined.map((site) => takePart(site, parts[site.identity.id] as Part, ids.length)),
    );
    const run = await h.run;
    expect(run.status).toBe("failed");
    expect(run.reason).toMatch(/secure aggregation aborted at masked-input \(below-threshold\)/);
    // The two survivors were never asked for a share: their sessions ended before unmasking.
    for (const outcome of outcomes.slice(0, 2)) {
      expect(outcome.status).toBe("fulfilled");
      const value = (outcome as PromiseFulfilledResult<SecAggSessionResult>).value;
      expect(value.kind).toBe("ended");
      expect(value.kind === "ended" && value.reason).toMatch(/below-threshold/);
    }
    const round = h.store.listRounds().find((r) => r.round === 1);
    expect(round?.status).toBe("failed");
    expect(round?.failures.map((f) => f.reason).join("\n")).toMatch(/below-threshold/);
    expect(h.store.latestCheckpoint()?.version).toBe(0);
  }, 60_000);

  it("runs an aborted round again with a fresh session and refuses the old one", async () => {
    const ids = ["a", "b", "c"];
    const h = await start(ids, { maxRoundAttempts: 2 });
    const joined = await Promise.all(ids.map((id) => joinSite(h, id)));
    const delta = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6];
    const sessions: string[] = [];
    const tasksOfA: FlTask[] = [];
    const recording = (site: FakeSite): CoordinatorPort =>
      new Proxy(site.connection, {
        get(target, property) {
          if (property === "secAggExchange")
            return async (auth: RequestAuth, request: SecAggRequest) => {
              const answer = await target.secAggExchange?.(auth, request);
              if (answer?.kind === "setup" && site.identity.id === "a") sessions.push(answer.params.session);
              return answer;
            };
          const value = Reflect.get(target, property);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const attempt = (crash: boolean) =>
      Promise.allSettled(
        joined.map(async (site) => {
          const task = await site.nextTask();
          if (task === "done" || task.kind !== "train") throw new Error("expected a training task");
          if (site.identity.id === "a") tasksOfA.push(task);
          const crashes = crash && site.identity.id === "c";
          return {
            task,
            result: await runSecAggSession({
              siteId: site.identity.id,
              port: recording(site),
              session: site.session,
              task,
              delta: Float32Array.from(delta),
              numExamples: 20,
              upload: crashes
                ? async () => {
                    throw new Error("crashed");
                  }
                : (plaintext) => upload(site, task, plaintext, 20),
              ended: new AbortController().signal,
              log: () => {},
            }),
          };
        }),
      );
    const first = await attempt(true);
    expect(first.slice(0, 2).map((o) => o.status === "fulfilled" && o.value.result.kind)).toEqual([
      "ended",
      "ended",
    ]);
    // The second attempt: every site again, from a new setup.
    const second = attempt(false);
    await expect.poll(() => sessions.length, { timeout: 20_000 }).toBe(2);
    expect(sessions[0]).not.toBe(sessions[1]);
    // A message of the first attempt's session is stale in the second, whatever task it names.
    const a = joined[0] as FakeSite;
    await expect.poll(() => tasksOfA.length).toBe(2);
    const task = tasksOfA[1] as FlTask;
    const stale: SecAggRequest = {
      taskId: task.taskId,
      round: 1,
      session: sessions[0] as string,
      awaiting: "neighbour-keys",
      waitMs: 0,
    };
    await expect(
      a.connection.secAggExchange(
        a.session.authorize(SessionMethod.SecAggExchange, callBody.secAggExchange(stale)),
        stale,
      ),
    ).rejects.toMatchObject({
      code: ErrorCode.WrongRound,
      message: expect.stringMatching(/is not this attempt's/),
    });
    const other: SecAggRequest = { ...stale, taskId: "another-task", session: sessions[1] as string };
    await expect(
      a.connection.secAggExchange(
        a.session.authorize(SessionMethod.SecAggExchange, callBody.secAggExchange(other)),
        other,
      ),
    ).rejects.toMatchObject({
      code: ErrorCode.WrongRound,
      message: expect.stringMatching(/not the open training task/),
    });
    const results = await second;
    expect(results.map((o) => o.status === "fulfilled" && o.value.result.kind)).toEqual([
      "unmasked",
      "unmasked",
      "unmasked",
    ]);
    expect((await h.run).status).toBe("completed");
    const rounds = h.store.listRounds();
    expect(rounds.map((r) => [r.attempt, r.status])).toEqual([
      [1, "failed"],
      [2, "completed"],
    ]);
    const v0 = checkpoint(h, 0);
    const v1 = checkpoint(h, 1);
    for (let i = 0; i < v0.length; i++)
      expect(Math.abs((v1[i] as number) - (v0[i] as number) - (delta[i] as number))).toBeLessThan(1e-5);
  }, 60_000);
});
