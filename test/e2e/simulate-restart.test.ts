import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import YAML from "yaml";
import { StateStore } from "../../coordinator/src/store/state-store.js";

const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "fl-sim-restart-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// The smallest federation that still trains: 16 px images, a one-layer CNN, 24 images a site.
const TINY = {
  imageSize: 16,
  widths: [4],
  imagesPerSite: 24,
  epochs: 1,
  rounds: 2,
  evaluateEvery: 0,
};

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `fl simulate`; `onLine` sees each stdout line as it comes, to act in the middle of the run. */
function simulate(args: string[], onLine: (line: string) => void = () => {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FL, "simulate", ...args], {
      env: { ...process.env, CI: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** The pid of the `fl client` process of one site of the run (not its trainer child). */
function clientPid(runDir: string, site: string): number | undefined {
  const config = join(runDir, "clients", `${site}.yaml`);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(join("/proc", entry, "cmdline"), "utf8").split("\0");
    } catch {
      continue; // the process ended meanwhile
    }
    if (argv.includes("client") && argv.includes(config)) return Number(entry);
  }
  return undefined;
}

it.skipIf(process.platform !== "linux")(
  "a hospital process SIGKILLed mid-round is restarted, joins again, and every site contributes to the next round",
  async () => {
    const runDir = join(out, "killed");
    const config = join(out, "tiny.json");
    writeFileSync(config, JSON.stringify(TINY));
    const victim = "community";
    let killed: number | undefined;
    const run = await simulate(["--config", config, "--out", runDir], (line) => {
      if (killed !== undefined || !line.startsWith("round 1: started")) return;
      killed = clientPid(runDir, victim);
      if (killed !== undefined) process.kill(killed, "SIGKILL");
    });
    expect(killed, run.stdout).toBeDefined();
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain(`${victim} exited (SIGKILL); restarting it in 1 s (restart 1 of 3)`);

    const runInfo = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as {
      status: string;
      clientRestarts?: Record<string, number>;
      clientsFailed?: unknown;
    };
    expect(runInfo.status).toBe("completed");
    expect(runInfo.clientRestarts).toEqual({ [victim]: 1 });
    expect(runInfo.clientsFailed).toBeUndefined();
    // The coordinator saw the restarted process join a second time.
    expect(
      run.stdout.split("\n").filter((line) => line.trim().startsWith(`${victim} joined (`)),
    ).toHaveLength(2);

    const store = StateStore.open(join(runDir, "state.db"), { federationId: "sim" });
    try {
      const rounds = store.listRounds().filter((r) => r.status === "completed");
      expect(rounds.map((r) => r.round)).toEqual([1, 2]);
      const round2 = store.listUpdates({ round: 2 }).filter((u) => u.status === "accepted");
      expect(round2.map((u) => u.siteId).sort()).toEqual(["community", "metro-icu", "outpatient"]);
    } finally {
      store.close();
    }
  },
);

it("a hospital that keeps crashing is restarted as often as allowed, then fails the run, naming it with its last output", async () => {
  const runDir = join(out, "crashing");
  const config = join(out, "tiny-crashing.json");
  // Every client refuses an unknown backend at start-up, so each of its processes exits 1.
  writeFileSync(config, JSON.stringify({ ...TINY, backend: "no-such-backend" }));
  // Plaintext (--insecure) here, which this test does not care about, to show the opt-out works.
  const run = await simulate(["--config", config, "--out", runDir, "--restart-clients", "1", "--insecure"]);
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(1);
  expect(run.stdout).toContain("gRPC in PLAINTEXT (--insecure): no TLS");
  const written = YAML.parse(readFileSync(join(runDir, "coordinator.yaml"), "utf8")) as Record<
    string,
    unknown
  >;
  expect(written.insecure).toBe(true);
  expect(written.tls).toBeUndefined();
  expect(readFileSync(join(runDir, "logs", "coordinator.log"), "utf8")).toContain(
    "WARNING: insecure: true: plaintext gRPC without TLS",
  );
  expect(run.stdout).toMatch(/exited \(code 1\); restarting it in 1 s \(restart 1 of 1\)/);
  const report = run.stdout.match(
    /(\S+) failed: it exited 2 times \(the last time: code 1\) and its 1 restart is spent \(--restart-clients 1\); its last output:\n((?: {4}.*\n)+)/,
  );
  expect(report, run.stdout).not.toBeNull();
  const [, site, lines] = report!;
  expect(["community", "metro-icu", "outpatient"]).toContain(site);
  expect(lines).toContain('unknown backend "no-such-backend"');
  expect(run.stdout).toContain(`full log: ${join(runDir, "logs", `${site}.log`)}`);

  const runInfo = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as {
    status: string;
    clientsFailed: Array<{ siteId: string; exits: number; lastExit: string; lastLines: string[] }>;
  };
  expect(runInfo.status).toBe("failed");
  expect(runInfo.clientsFailed[0]).toMatchObject({ siteId: site, exits: 2, lastExit: "code 1" });
  expect(runInfo.clientsFailed[0]!.lastLines.join("\n")).toContain('unknown backend "no-such-backend"');
});
