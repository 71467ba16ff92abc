import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { CoordinatorConfigSchema } from "../../../coordinator/src/config.js";
import { runCoordinator } from "../../../coordinator/src/main.js";
import { StateStore } from "../../../coordinator/src/store/state-store.js";
import {
  generateIdentity,
  type Identity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../../shared/src/crypto/index.js";
import { FakeSite } from "../../helpers/fake-site.js";

// A 265 KB checkpoint: big enough that a disk with 100 KB left refuses it while SQLite's small
// page writes still fit, which is the order in which a real disk runs out.
const MODEL = { architecture: "small-cnn", imageSize: 64, widths: [32, 64], numClasses: 4, seed: 3 };

const mounts: string[] = [];
const dirs: string[] = [];
const sites: FakeSite[] = [];

afterEach(() => {
  for (const site of sites.splice(0)) site.close();
  // Lazy: a coordinator of a failed test may still hold its database open.
  for (const mount of mounts.splice(0)) execFileSync("umount", ["-l", mount]);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A 4 MiB tmpfs (root only): a real disk that fills up. Undefined, with the reason, when not possible. */
function smallDisk(parent: string): { path: string } | { skip: string } {
  if (process.getuid?.() !== 0)
    return { skip: "mounting a small tmpfs needs root; run as root to test a full disk" };
  const path = join(parent, "state");
  mkdirSync(path);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", path], { stdio: "pipe" });
  } catch (error) {
    return { skip: `cannot mount a tmpfs here (${String(error)}); a full disk is not tested` };
  }
  mounts.push(path);
  return { path };
}

/** Fills the disk until `leaveBytes` are free. */
function fill(path: string, leaveBytes: number): void {
  const stats = statfsSync(path);
  const free = stats.bavail * stats.bsize;
  writeFileSync(join(path, "filler"), Buffer.alloc(Math.max(0, free - leaveBytes)));
}

function configFor(dir: string, stateDir: string, plan: Record<string, unknown> = {}) {
  return CoordinatorConfigSchema.parse({
    federationId: "diskfull",
    listen: "127.0.0.1:0",
    insecure: true,
    stateDir,
    identity: join(dir, "coordinator.identity.json"),
    sitesDir: join(dir, "sites"),
    keepCheckpoints: 1,
    model: MODEL,
    plan: {
      phases: [{ name: "p", task: "classify", rounds: 4 }],
      minSites: 1,
      roundTimeoutSec: 60,
      evaluateEvery: 0,
      evaluationTimeoutSec: 1,
      ...plan,
    },
    limits: { heartbeatIntervalMs: 200, heartbeatTimeoutSec: 30 },
  });
}

function start(config: ReturnType<typeof configFor>, coordinator: Identity, site: Identity) {
  const log: string[] = [];
  let listening: (address: string) => void = () => {};
  const address = new Promise<string>((resolve) => {
    listening = resolve;
  });
  const run = runCoordinator(config, { log: (line) => log.push(line), onListening: (a) => listening(a) });
  const connected = address.then(async (a) => {
    const fake = new FakeSite(a, site, publicIdentity(coordinator));
    sites.push(fake);
    await fake.join();
    return fake;
  });
  const deliver = async () => {
    const fake = await connected;
    const task = await fake.nextTask();
    if (task === "done") throw new Error("unexpected done");
    const global = await fake.download(task);
    expect(await fake.upload(fake.pack(task, global, 0.01, 4))).toMatchObject({ accepted: true });
  };
  const finish = async () => {
    const fake = await connected;
    for (let next = await fake.nextTask(); next !== "done"; next = await fake.nextTask())
      await new Promise((resolve) => setTimeout(resolve, 200));
  };
  return { log, run, deliver, finish };
}

function identities(dir: string): { coordinator: Identity; site: Identity } {
  const coordinator = generateIdentity("coordinator");
  const site = generateIdentity("a");
  mkdirSync(join(dir, "sites"));
  writeFileSync(join(dir, "coordinator.identity.json"), identityToJson(coordinator), { mode: 0o600 });
  writeFileSync(join(dir, "sites", "a.public.json"), publicIdentityToJson(publicIdentity(site)));
  return { coordinator, site };
}

function completedRounds(stateDir: string): number {
  const store = StateStore.open(join(stateDir, "state.db"), { federationId: "diskfull" });
  try {
    return store.lastCompletedRound();
  } finally {
    store.close();
  }
}

it("a full disk fails the run with the file it could not write, loses no state, and the federation resumes once there is space", async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), "fl-disk-full-"));
  dirs.push(dir);
  const disk = smallDisk(dir);
  if ("skip" in disk) {
    ctx.skip(disk.skip);
    return;
  }
  const { coordinator, site } = identities(dir);
  const config = configFor(dir, disk.path);
  const checkpoint = (v: number) =>
    join(disk.path, "checkpoints", `model-v${String(v).padStart(5, "0")}.flw`);

  const first = start(config, coordinator, site);
  await first.deliver();
  await first.deliver();
  await expect.poll(() => existsSync(checkpoint(2)), { timeout: 10_000 }).toBe(true);
  // keepCheckpoints 1: v1 is gone, v0 (the initial model) is a phase boundary and stays.
  await expect.poll(() => existsSync(checkpoint(1)), { timeout: 10_000 }).toBe(false);
  expect(existsSync(checkpoint(0))).toBe(true);

  fill(disk.path, 100 * 1024);
  await first.deliver();
  const failed = await first.run;
  expect(failed.status).toBe("failed");
  expect(failed.reason).toContain(`cannot write checkpoint v3`);
  expect(failed.reason).toContain(checkpoint(3));
  expect(failed.reason).toContain("ENOSPC");
  // A failed plan has no final model, and its report says it stopped early.
  expect(existsSync(join(disk.path, "model", "final.flw"))).toBe(false);
  expect(readFileSync(join(disk.path, "report.md"), "utf8")).toContain("**Not completed**");
  expect(completedRounds(disk.path)).toBe(2);
  expect(existsSync(checkpoint(3))).toBe(false);

  // With space again, the same state resumes after round 2 and completes the plan.
  rmSync(join(disk.path, "filler"));
  const second = start(config, coordinator, site);
  await second.deliver();
  await second.deliver();
  await second.finish();
  await expect(second.run).resolves.toMatchObject({ status: "completed" });
  expect(completedRounds(disk.path)).toBe(4);
  const final = JSON.parse(readFileSync(join(disk.path, "model", "final.json"), "utf8")) as {
    version: number;
  };
  expect(final.version).toBe(4);
  expect(existsSync(checkpoint(2))).toBe(false);
  expect(existsSync(checkpoint(4))).toBe(true);
}, 120_000);

it("a disk with no space left at all: the refused update names the database file, and the run ends failed with its state intact", async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), "fl-disk-full-"));
  dirs.push(dir);
  const disk = smallDisk(dir);
  if ("skip" in disk) {
    ctx.skip(disk.skip);
    return;
  }
  const { coordinator, site } = identities(dir);
  const config = configFor(dir, disk.path, { roundTimeoutSec: 2, maxRoundAttempts: 1 });
  const run = start(config, coordinator, site);
  await run.deliver();
  await expect.poll(() => completedRounds(disk.path), { timeout: 10_000 }).toBe(1);

  fill(disk.path, 0);
  await expect(run.deliver()).rejects.toThrow();
  const failed = await run.run;
  expect(failed.status).toBe("failed");
  expect(
    run.log.some(
      (l) =>
        l.includes(`cannot write the federation state ${join(disk.path, "state.db")}`) && l.includes("full"),
    ),
  ).toBe(true);
  rmSync(join(disk.path, "filler"));
  expect(completedRounds(disk.path)).toBe(1);
}, 60_000);
