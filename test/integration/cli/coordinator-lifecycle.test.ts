import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import {
  generateIdentity,
  type Identity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../../shared/src/crypto/index.js";
import { FakeSite } from "../../helpers/fake-site.js";

// The real `fl coordinator` as a supervisor meets it: exit codes, a restart after the end, a
// restart with another config, SIGTERM, and starts that fail.
const FL = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const dirs: string[] = [];
const children: ChildProcess[] = [];
const sites: FakeSite[] = [];
const servers: Server[] = [];

afterEach(() => {
  for (const s of sites.splice(0)) s.close();
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Life {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly output: () => string;
}

function start(dir: string): Life {
  rmSync(join(dir, "coordinator.addr"), { force: true });
  const child = spawn(process.execPath, [FL, "coordinator", "--config", join(dir, "coordinator.json")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return {
    child,
    exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
    output: () => output,
  };
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

function federation(overrides: Record<string, unknown> = {}): {
  dir: string;
  coordinator: Identity;
  site: Identity;
} {
  const dir = mkdtempSync(join(tmpdir(), "fl-lifecycle-"));
  dirs.push(dir);
  const coordinator = generateIdentity("coordinator");
  const site = generateIdentity("a");
  mkdirSync(join(dir, "sites"));
  writeFileSync(join(dir, "coordinator.identity.json"), identityToJson(coordinator), { mode: 0o600 });
  writeFileSync(join(dir, "sites", "a.public.json"), publicIdentityToJson(publicIdentity(site)));
  writeConfig(dir, overrides);
  return { dir, coordinator, site };
}

function writeConfig(dir: string, overrides: Record<string, unknown>): void {
  writeFileSync(
    join(dir, "coordinator.json"),
    JSON.stringify({
      federationId: "life",
      listen: "127.0.0.1:0",
      stateDir: ".",
      identity: "coordinator.identity.json",
      sitesDir: "sites",
      insecure: true,
      model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
      plan: {
        phases: [{ name: "p", task: "classify", rounds: 1 }],
        minSites: 1,
        roundTimeoutSec: 60,
        evaluateEvery: 0,
        evaluationTimeoutSec: 1,
      },
      ...overrides,
    }),
  );
}

const address = (dir: string) =>
  waitFor(() =>
    existsSync(join(dir, "coordinator.addr"))
      ? readFileSync(join(dir, "coordinator.addr"), "utf8").trim()
      : undefined,
  );

it("a completed federation stays completed: exit 0, and a restart says so and exits 0 without serving", async () => {
  const { dir, coordinator, site } = federation();
  const first = start(dir);
  const a = new FakeSite(await address(dir), site, publicIdentity(coordinator));
  sites.push(a);
  await a.join();
  const task = await a.nextTask();
  if (task === "done") throw new Error("unexpected done");
  expect(await a.upload(a.pack(task, await a.download(task), 1, 1))).toMatchObject({ accepted: true });
  expect(await first.exited, first.output()).toBe(0);
  expect(existsSync(join(dir, "model", "final.flw"))).toBe(true);
  const report = readFileSync(join(dir, "report.md"), "utf8");
  expect(report).toMatch(/^Completed at \d{4}-\d\d-\d\dT/m);

  const startedAt = Date.now();
  const again = start(dir);
  expect(await again.exited, again.output()).toBe(0);
  expect(Date.now() - startedAt).toBeLessThan(15_000);
  expect(again.output()).toMatch(
    // Plain or as a JSON log line (quotes escaped).
    /federation \\?"life\\?" already completed at \d{4}-\d\d-\d\dT[\d:.]+Z; nothing to do/,
  );
  expect(again.output()).not.toContain("listening on");
  expect(existsSync(join(dir, "coordinator.addr"))).toBe(false);
  expect(readFileSync(join(dir, "report.md"), "utf8")).toBe(report);
}, 60_000);

it("refuses a restart with another model or plan, with the difference, and SIGTERM drains a running one", async () => {
  const { dir } = federation();
  const first = start(dir);
  await address(dir);
  first.child.kill("SIGTERM");
  const stoppedAt = Date.now();
  // Stopped before the end: not completed (1), promptly, and the state stays for a resume.
  expect(await first.exited, first.output()).toBe(1);
  expect(Date.now() - stoppedAt).toBeLessThan(8_000);
  expect(existsSync(join(dir, "state.db"))).toBe(true);
  expect(readFileSync(join(dir, "report.md"), "utf8")).toContain("**Not completed**");
  expect(existsSync(join(dir, "model", "final.flw"))).toBe(false);

  writeConfig(dir, {
    model: { architecture: "small-cnn", imageSize: 16, widths: [2, 4], numClasses: 4, seed: 3 },
  });
  const changed = start(dir);
  expect(await changed.exited).toBe(1);
  expect(changed.output()).toContain('federation "life" in ');
  expect(changed.output()).toContain("model.widths: [2] -> [2,4]");
  expect(changed.output()).toContain("point stateDir at a new folder");
  expect(changed.output()).not.toContain("listening on");
}, 60_000);

it("a start that fails (port in use, NATS down) leaves no state behind", async () => {
  const busy = createServer();
  servers.push(busy);
  const port = await new Promise<number>((resolve) =>
    busy.listen(0, "127.0.0.1", () => resolve((busy.address() as { port: number }).port)),
  );
  const { dir } = federation({ listen: `127.0.0.1:${port}`, stateDir: "state" });
  const inUse = start(dir);
  expect(await inUse.exited).toBe(1);
  expect(inUse.output()).toContain(String(port));
  expect(existsSync(join(dir, "state")), inUse.output()).toBe(false);

  // A port nothing listens on, as a NATS server that is down.
  busy.close();
  await new Promise((resolve) => setTimeout(resolve, 100));
  writeConfig(dir, { stateDir: "state", nats: { url: `nats://127.0.0.1:${port}` } });
  const noNats = start(dir);
  expect(await noNats.exited).toBe(1);
  expect(noNats.output()).toContain("NATS");
  expect(existsSync(join(dir, "state")), noNats.output()).toBe(false);
}, 60_000);
