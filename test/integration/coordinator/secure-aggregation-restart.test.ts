import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { sealPayload } from "../../../client/src/seal-update.js";
import { runSecAggSession } from "../../../client/src/secagg-session.js";
import { StateStore } from "../../../coordinator/src/store/state-store.js";
import {
  generateIdentity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../../shared/src/crypto/index.js";
import type { RequestAuth } from "../../../shared/src/fl/messages.js";
import type { CoordinatorPort } from "../../../shared/src/fl/ports.js";
import type { SecAggRequest } from "../../../shared/src/fl/secagg-exchange.js";
import { deserializeWeights } from "../../../shared/src/weights/index.js";
import { pollUntil, startCoordinatorChild } from "../../helpers/coordinator-child.js";
import { FakeSite } from "../../helpers/fake-site.js";

/**
 * A coordinator killed in the middle of a secure-aggregation round: nothing of the round's
 * protocol survives (keys, shares, the partial sum live only in memory), so the restarted
 * coordinator runs the round again from its setup, with a new session and fresh keys.
 */

const dirs: string[] = [];
const children: ChildProcess[] = [];
const sites: FakeSite[] = [];

afterEach(() => {
  for (const s of sites.splice(0)) s.close();
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it("a coordinator killed mid-round runs the secure-aggregation round again with a fresh session", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fl-secagg-resume-"));
  dirs.push(dir);
  const coordinator = generateIdentity("coordinator");
  const identities = ["a", "b", "c"].map((id) => generateIdentity(id));
  mkdirSync(join(dir, "sites"));
  writeFileSync(join(dir, "coordinator.identity.json"), identityToJson(coordinator), { mode: 0o600 });
  for (const id of identities)
    writeFileSync(join(dir, "sites", `${id.id}.public.json`), publicIdentityToJson(publicIdentity(id)));
  writeFileSync(
    join(dir, "coordinator.json"),
    JSON.stringify({
      federationId: "secagg-resume",
      listen: "127.0.0.1:0",
      stateDir: ".",
      identity: "coordinator.identity.json",
      sitesDir: "sites",
      insecure: true,
      model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
      plan: {
        phases: [{ name: "p", task: "classify", rounds: 1 }],
        minSites: 3,
        roundTimeoutSec: 60,
        evaluateEvery: 0,
        evaluationTimeoutSec: 1,
        maxRoundAttempts: 2,
        secureAggregation: { clip: 2, stageTimeoutSec: 5 },
      },
      limits: { heartbeatIntervalMs: 200, heartbeatTimeoutSec: 30 },
    }),
  );
  const connect = async () => {
    const address = await pollUntil(() =>
      existsSync(join(dir, "coordinator.addr"))
        ? readFileSync(join(dir, "coordinator.addr"), "utf8").trim()
        : undefined,
    );
    const connected = identities.map((id) => new FakeSite(address, id, publicIdentity(coordinator)));
    for (const s of connected) await s.join();
    sites.push(...connected);
    return connected;
  };
  const sessions = new Set<string>();
  const recording = (site: FakeSite): CoordinatorPort =>
    new Proxy(site.connection, {
      get(target, property) {
        if (property === "secAggExchange")
          return async (auth: RequestAuth, request: SecAggRequest) => {
            const answer = await target.secAggExchange?.(auth, request);
            if (answer?.kind === "setup") sessions.add(answer.params.session);
            return answer;
          };
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const delta = (site: number, i: number) => ((site + 1) * ((i % 7) - 3)) / 16;
  const take = async (site: FakeSite, index: number, beforeUpload?: () => Promise<void>) => {
    const task = await site.nextTask();
    if (task === "done" || task.kind !== "train") throw new Error("expected a training task");
    const length = (await site.download(task)).values.length;
    return runSecAggSession({
      siteId: site.identity.id,
      port: recording(site),
      session: site.session,
      task,
      delta: Float32Array.from({ length }, (_, i) => delta(index, i)),
      numExamples: 10 * (index + 1),
      upload: async (plaintext) => {
        await beforeUpload?.();
        const sealed = await sealPayload(
          {
            identity: site.identity,
            key: site.session.updateKey,
            federationId: site.federationId,
            round: task.round,
            modelVersion: task.modelVersion,
            taskId: task.taskId,
            numExamples: 10 * (index + 1),
          },
          plaintext,
        );
        return site.upload(sealed);
      },
      ended: new AbortController().signal,
      log: () => {},
    });
  };

  // First life: the keys are shared, then the coordinator dies as the first masked input is due.
  let life = startCoordinatorChild(dir, children);
  let connected = await connect();
  const exited = life.exited;
  const kill = async () => {
    life.child.kill("SIGKILL");
    await exited;
  };
  const first = await Promise.allSettled(connected.map((site, i) => take(site, i, kill)));
  expect(first.every((o) => o.status === "rejected")).toBe(true);
  expect(sessions.size).toBe(1);

  // Second life: the same round from its setup, a new session; every site takes part.
  life = startCoordinatorChild(dir, children);
  connected = await connect();
  const second = await Promise.all(connected.map((site, i) => take(site, i)));
  expect(second.map((r) => r.kind)).toEqual(["unmasked", "unmasked", "unmasked"]);
  expect(sessions.size).toBe(2);
  expect(await life.exited).toBe(0);

  const store = StateStore.open(join(dir, "state.db"), { federationId: "secagg-resume" });
  try {
    expect(store.listRounds().map((r) => [r.round, r.attempt, r.status])).toEqual([
      [1, 1, "aborted"],
      [1, 2, "completed"],
    ]);
    // Nothing of the first life's protocol was recorded as an update.
    expect(store.listUpdates({ round: 1, attempt: 1 })).toEqual([]);
    const v0 = deserializeWeights(new Uint8Array(readFileSync(store.checkpoint(0)?.path as string))).values;
    const v1 = deserializeWeights(new Uint8Array(readFileSync(store.checkpoint(1)?.path as string))).values;
    // FedAvg with 10, 20, 30 examples: Σ n·Δ / Σ n = (10·1 + 20·2 + 30·3)/60 · ((i mod 7) − 3)/16.
    for (let i = 0; i < v0.length; i++) {
      const expected = ((10 + 40 + 90) / 60) * (((i % 7) - 3) / 16);
      expect(Math.abs((v1[i] as number) - (v0[i] as number) - expected)).toBeLessThan(1e-5);
    }
  } finally {
    store.close();
  }
}, 120_000);
