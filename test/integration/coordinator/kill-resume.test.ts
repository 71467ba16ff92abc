import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { StateStore } from "../../../coordinator/src/store/state-store.js";
import {
  generateIdentity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../../shared/src/crypto/index.js";
import { deserializeWeights } from "../../../shared/src/weights/index.js";
import { pollUntil, startCoordinatorChild } from "../../helpers/coordinator-child.js";
import { FakeSite } from "../../helpers/fake-site.js";

const dirs: string[] = [];
const children: ChildProcess[] = [];
const sites: FakeSite[] = [];

afterEach(() => {
  for (const s of sites.splice(0)) s.close();
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function completedRounds(dir: string): number {
  try {
    const rounds = JSON.parse(readFileSync(join(dir, "rounds.json"), "utf8")) as Array<{
      modelVersion: number | null;
    }>;
    return rounds.filter((r) => r.modelVersion !== null).length;
  } catch {
    return 0;
  }
}

it("a coordinator killed mid-round resumes from the last committed round without losing or double-counting updates", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fl-resume-"));
  dirs.push(dir);
  const coordinator = generateIdentity("coordinator");
  const identities = ["a", "b"].map((id) => generateIdentity(id));
  mkdirSync(join(dir, "sites"));
  // Secret identity files must not be readable by others (readIdentityFile refuses them).
  writeFileSync(join(dir, "coordinator.identity.json"), identityToJson(coordinator), { mode: 0o600 });
  for (const id of identities)
    writeFileSync(join(dir, "sites", `${id.id}.public.json`), publicIdentityToJson(publicIdentity(id)));
  writeFileSync(
    join(dir, "coordinator.json"),
    JSON.stringify({
      federationId: "resume",
      listen: "127.0.0.1:0",
      stateDir: ".",
      identity: "coordinator.identity.json",
      sitesDir: "sites",
      insecure: true,
      model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
      plan: {
        phases: [{ name: "p", task: "classify", rounds: 3 }],
        minSites: 2,
        roundTimeoutSec: 60,
        evaluateEvery: 0,
        evaluationTimeoutSec: 1,
        maxRoundAttempts: 2,
        // Server momentum makes the result depend on state carried across the crash.
        strategy: { name: "fedavgm", serverLearningRate: 1, momentum: 0.9 },
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
  const deliver = async (site: FakeSite, delta: number, n: number) => {
    const task = await site.nextTask();
    if (task === "done") throw new Error("unexpected done");
    const global = await site.download(task);
    expect(await site.upload(site.pack(task, global, delta, n))).toMatchObject({ accepted: true });
    return global;
  };

  // First life: round 1 completes (mean delta (1 + 3) / 2 = 2), then a delivers round 2 and the coordinator dies.
  let life = startCoordinatorChild(dir, children);
  let [a, b] = await connect();
  const initial = await deliver(a!, 1, 1);
  await deliver(b!, 3, 1);
  await pollUntil(() => (completedRounds(dir) === 1 ? true : undefined));
  await deliver(a!, 1000, 1);
  life.child.kill("SIGKILL");
  await life.exited;

  // Second life: round 2 runs again from v1: (10·1 + 20·3) / 4 = 17.5; round 3: 0.
  life = startCoordinatorChild(dir, children);
  [a, b] = await connect();
  await Promise.all([deliver(a!, 10, 1), deliver(b!, 20, 3)]);
  await Promise.all([deliver(a!, 0, 1), deliver(b!, 0, 1)]);
  expect(await life.exited).toBe(0);

  const store = StateStore.open(join(dir, "state.db"), { federationId: "resume" });
  try {
    const rounds = store.listRounds();
    expect(rounds.map((r) => [r.round, r.attempt, r.status])).toEqual([
      [1, 1, "completed"],
      [2, 1, "aborted"],
      [2, 2, "completed"],
      [3, 1, "completed"],
    ]);
    const latest = store.latestCheckpoint()!;
    expect(latest.version).toBe(3);
    const final = deserializeWeights(new Uint8Array(readFileSync(latest.path)));
    // FedAvgM, m ← 0.9·m + Δ, x ← x + m, with the mean deltas Δ = 2, 17.5, 0:
    //   round 1: m = 2,                        x = x0 + 2
    //   round 2: m = 0.9·2 + 17.5 = 19.3,       x = x0 + 21.3
    //   round 3: m = 0.9·19.3 = 17.37,          x = x0 + 38.67
    // Losing the momentum in the crash would give x0 + 35.25 instead.
    for (const [i, v] of initial.values.entries()) expect(final.values[i]).toBeCloseTo(v + 38.67, 3);
    expect(store.strategyState(3)?.phase).toBe("p");
    // The update a sent before the crash is on record, tied to the aborted attempt only.
    expect(store.listUpdates({ round: 2, attempt: 1 }).map((u) => u.siteId)).toEqual(["a"]);
  } finally {
    store.close();
  }
});

it("a coordinator killed after a commit and during the final evaluation evaluates every version in full on resume", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fl-resume-eval-"));
  dirs.push(dir);
  const coordinator = generateIdentity("coordinator");
  const identities = ["a", "b"].map((id) => generateIdentity(id));
  mkdirSync(join(dir, "sites"));
  writeFileSync(join(dir, "coordinator.identity.json"), identityToJson(coordinator), { mode: 0o600 });
  for (const id of identities)
    writeFileSync(join(dir, "sites", `${id.id}.public.json`), publicIdentityToJson(publicIdentity(id)));
  writeFileSync(
    join(dir, "coordinator.json"),
    JSON.stringify({
      federationId: "resume-eval",
      listen: "127.0.0.1:0",
      stateDir: ".",
      identity: "coordinator.identity.json",
      sitesDir: "sites",
      insecure: true,
      model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
      plan: {
        phases: [{ name: "p", task: "classify", rounds: 2 }],
        minSites: 2,
        roundTimeoutSec: 60,
        evaluateEvery: 1,
        evaluationTimeoutSec: 60,
        maxRoundAttempts: 2,
      },
      limits: { heartbeatIntervalMs: 200, heartbeatTimeoutSec: 30 },
    }),
  );
  const confusion: Record<string, number[][]> = {
    a: [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ],
    b: [
      [0, 2, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 0, 1],
      [0, 0, 0, 0],
    ],
  };
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
  /** Does the site's next task: delta `fill` when it is a training task, its confusion matrix otherwise. */
  const work = async (site: FakeSite, fill: number) => {
    const task = await site.nextTask();
    if (task === "done") throw new Error("unexpected done");
    if (task.kind === "train") {
      const global = await site.download(task);
      expect(await site.upload(site.pack(task, global, fill, 1))).toMatchObject({ accepted: true });
    } else await site.evaluate(task, confusion[site.identity.id]!);
    return [task.kind, task.round, task.modelVersion] as const;
  };

  // First life: round 1 commits (mean delta (1 + 3) / 2 = 2); the coordinator dies before
  // any evaluation report of v1.
  let life = startCoordinatorChild(dir, children);
  let [a, b] = await connect();
  const firstTask = await a!.nextTask();
  if (firstTask === "done") throw new Error("unexpected done");
  const initial = await a!.download(firstTask);
  expect(await a!.upload(a!.pack(firstTask, initial, 1, 1))).toMatchObject({ accepted: true });
  await work(b!, 3);
  await pollUntil(() => (completedRounds(dir) === 1 ? true : undefined));
  life.child.kill("SIGKILL");
  await life.exited;

  // Second life: v1 is evaluated before round 2 (mean (10 + 20) / 2 = 15); a reports on the
  // final model v2 and the coordinator dies before b does.
  life = startCoordinatorChild(dir, children);
  [a, b] = await connect();
  expect(await Promise.all([work(a!, 0), work(b!, 0)])).toEqual([
    ["evaluate", 1, 1],
    ["evaluate", 1, 1],
  ]);
  expect(await Promise.all([work(a!, 10), work(b!, 20)])).toEqual([
    ["train", 2, 1],
    ["train", 2, 1],
  ]);
  expect(await work(a!, 0)).toEqual(["evaluate", 2, 2]);
  life.child.kill("SIGKILL");
  await life.exited;

  // Third life: only b is asked for the final evaluation; then the plan is complete.
  life = startCoordinatorChild(dir, children);
  [a, b] = await connect();
  expect(await work(b!, 0)).toEqual(["evaluate", 2, 2]);
  expect(await life.exited).toBe(0);

  const store = StateStore.open(join(dir, "state.db"), { federationId: "resume-eval" });
  try {
    for (const version of [1, 2]) {
      expect(store.listEvaluations(version).map((e) => [e.siteId, e.confusion])).toEqual([
        ["a", confusion.a],
        ["b", confusion.b],
      ]);
      expect(store.evaluationRun(version)).toMatchObject({ expected: ["a", "b"], failures: [] });
    }
    const latest = store.latestCheckpoint()!;
    expect(latest.version).toBe(2);
    const final = deserializeWeights(new Uint8Array(readFileSync(latest.path)));
    for (const [i, v] of initial.values.entries()) expect(final.values[i]).toBeCloseTo(v + 17, 4);
    // The report files name the final evaluation with both sites in it.
    const evaluation = JSON.parse(readFileSync(join(dir, "evaluation.json"), "utf8")) as {
      modelVersion: number;
      pooled: { count: number };
    };
    expect(evaluation).toMatchObject({ modelVersion: 2, pooled: { count: 8 } });
  } finally {
    store.close();
  }
});
