import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import YAML from "yaml";

// `fl simulate` as a supervisor and a user meet it: interrupted, resumed with other settings,
// flags that a config overrides, a mistake in the config, and a parent that dies.
const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "fl-sim-life-"));
const spawned: ChildProcess[] = [];
afterAll(() => {
  for (const child of spawned) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(out, { recursive: true, force: true });
});

const TINY = ["--rounds", "1", "--image-size", "16", "--images-per-site", "8", "--epochs", "1"];

interface Run {
  readonly child: ChildProcess;
  readonly done: Promise<{ status: number | null; stdout: string; stderr: string }>;
  /** Resolves once a stdout line matches. */
  readonly line: (pattern: RegExp) => Promise<string>;
}

function simulate(args: string[]): Run {
  const child = spawn(process.execPath, [FL, "simulate", ...args], {
    env: { ...process.env, CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  spawned.push(child);
  let stdout = "";
  let stderr = "";
  const waiting: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of waiting.splice(0)) {
      const found = stdout.split("\n").find((l) => w.pattern.test(l));
      if (found !== undefined) w.resolve(found);
      else waiting.push(w);
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 200_000);
  return {
    child,
    done: new Promise((resolve) =>
      child.once("close", (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      }),
    ),
    line: (pattern) =>
      new Promise((resolve) => {
        const found = stdout.split("\n").find((l) => pattern.test(l));
        if (found !== undefined) resolve(found);
        else waiting.push({ pattern, resolve });
      }),
  };
}

/** Pids of the processes `fl simulate` started for a run folder (coordinator and clients). */
function runProcesses(runDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(join("/proc", entry, "cmdline"), "utf8").split("\0");
      if (argv.some((a) => a.startsWith(runDir)) && (argv.includes("client") || argv.includes("coordinator")))
        pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

const allJoined = /outpatient joined|metro-icu joined|community joined/;

it.skipIf(process.platform !== "linux")(
  "an interrupted run says so and keeps no final model; resuming it with other settings is refused; its processes end with a killed parent",
  async () => {
    const runDir = join(out, "run");
    const first = simulate([...TINY, "--out", runDir]);
    await first.line(allJoined);
    // A real port, so that a coordinator restarted by hand is where the clients look.
    const listen = (YAML.parse(readFileSync(join(runDir, "coordinator.yaml"), "utf8")) as { listen: string })
      .listen;
    expect(listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(listen).not.toBe("127.0.0.1:0");
    first.child.kill("SIGINT");
    const interrupted = await first.done;
    expect(interrupted.status, interrupted.stdout + interrupted.stderr).toBe(130);
    expect(interrupted.stdout).toContain("INTERRUPTED");
    expect(interrupted.stdout).toContain("no final model (the plan did not complete)");
    const run = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as {
      status: string;
      reason: string;
    };
    expect(run).toMatchObject({
      status: "interrupted",
      reason: expect.stringContaining("stopped by a signal"),
    });
    expect(existsSync(join(runDir, "model", "final.flw"))).toBe(false);
    expect(readFileSync(join(runDir, "report.md"), "utf8")).toContain("STOPPED EARLY");

    const settings = readFileSync(join(runDir, "config.json"), "utf8");
    const changed = await simulate([
      ...TINY.slice(0, 2),
      "--image-size",
      "32",
      ...TINY.slice(4),
      "--out",
      runDir,
    ]).done;
    expect(changed.status).toBe(1);
    expect(changed.stderr).toContain("holds a simulation started with other settings");
    expect(changed.stderr).toContain("simulation.imageSize: 16 -> 32");
    expect(readFileSync(join(runDir, "config.json"), "utf8")).toBe(settings);

    // The same settings resume; killing the parent outright takes its children with it.
    const resumed = simulate([...TINY, "--out", runDir]);
    await resumed.line(/resuming the federation/);
    await resumed.line(allJoined);
    const children = runProcesses(runDir);
    expect(children.length).toBeGreaterThanOrEqual(4);
    resumed.child.kill("SIGKILL");
    const killedAt = Date.now();
    while (runProcesses(runDir).length > 0 && Date.now() - killedAt < 10_000)
      await new Promise((r) => setTimeout(r, 200));
    expect(runProcesses(runDir)).toEqual([]);
    expect(Date.now() - killedAt).toBeLessThan(6_000);
  },
  240_000,
);

it("refuses flags that the config's phases override, and a mistake in a phase, before writing anything", async () => {
  const config = join(out, "phases.json");
  writeFileSync(config, JSON.stringify({ phases: [{ name: "p", task: "classify", rounds: 1 }] }));
  const overridden = await simulate([
    "--config",
    config,
    "--rounds",
    "1",
    "--epochs",
    "7",
    "--out",
    join(out, "o"),
  ]).done;
  expect(overridden.status).toBe(1);
  expect(overridden.stderr).toContain("--rounds, --epochs have no effect");
  expect(existsSync(join(out, "o"))).toBe(false);

  const typo = join(out, "typo.json");
  writeFileSync(typo, JSON.stringify({ phases: [{ name: "p", task: "clasify", rounds: 1 }] }));
  const mistaken = await simulate(["--config", typo, "--out", join(out, "t")]).done;
  expect(mistaken.status).toBe(1);
  expect(mistaken.stderr).toContain("plan.phases.0.task: Invalid option");
  expect(existsSync(join(out, "t"))).toBe(false);

  // The coordinator cannot start (NATS is down): its reason on the console, and no run folder.
  const down = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const noNats = await simulate([...TINY, "--nats", `nats://127.0.0.1:${down}`, "--out", join(out, "n")])
    .done;
  expect(noNats.status).toBe(1);
  expect(noNats.stderr).toContain("the coordinator exited (code 1) before listening; its last output:");
  expect(noNats.stderr).toContain(`cannot connect to NATS at nats://127.0.0.1:${down}`);
  expect(noNats.stderr).toContain(`nothing was kept in ${join(out, "n")}`);
  expect(existsSync(join(out, "n"))).toBe(false);
}, 90_000);
