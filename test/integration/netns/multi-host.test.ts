import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { StateStore } from "../../../coordinator/src/store/state-store.js";
import type { FlEvent } from "../../../shared/src/events/types.js";

/**
 * A federation across hosts, for real: deploy/netns/federation.sh puts the coordinator, a
 * nats-server (JetStream, TLS) and three hospitals each in its own network namespace, joined by
 * veths to a bridge in a hub namespace, with mutual TLS from deploy/tls/make-certs.sh and keys
 * from `fl keys generate`. During round 2 one hospital's link is cut at the hub for longer than
 * the heartbeat timeout, then restored: the round completes with the other two, the hospital is
 * recorded as lost, joins again and contributes to round 3, and the run completes. The events
 * are read from NATS by `fl events watch` in the coordinator's namespace.
 */

const SCRIPT = fileURLToPath(new URL("../../../deploy/netns/federation.sh", import.meta.url));
const SITES = ["community", "metro-icu", "outpatient"];
const VICTIM = "outpatient";
const OTHERS = SITES.filter((site) => site !== VICTIM);
/** The coordinator's heartbeat timeout in the script's config (the minimum it accepts). */
const HEARTBEAT_TIMEOUT_MS = 25_000;
/** Longer than the heartbeat timeout plus the coordinator's once-a-second sweep. */
const CUT_MS = 30_000;
const PREFIX = `flt${process.pid % 1_000_000}`;
const dir = mkdtempSync(join(tmpdir(), "fl-netns-"));

/** Why network namespaces cannot be tested here, or undefined when they can. */
function unavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux only";
  if (process.getuid?.() !== 0)
    return "network namespaces need root; run the tests as root (CI does) to test a multi-host federation";
  if (spawnSync("ip", ["-V"]).error)
    return "`ip` is missing: apt-get install -y iproute2 to test a multi-host federation";
  const probe = `${PREFIX}-probe`;
  const added = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (added.status !== 0)
    return `cannot create a network namespace here (${added.stderr.trim()}); a multi-host federation is not tested`;
  spawnSync("ip", ["netns", "del", probe]);
  return undefined;
}
const skipReason = unavailable();

interface Ran {
  readonly code: number | null;
  readonly output: string;
}

function script(...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn("bash", [SCRIPT, "--dir", dir, ...args], {
      env: { ...process.env, NODE: process.execPath },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.once("close", (code) => resolve({ code, output }));
  });
}

async function ok(...args: string[]): Promise<string> {
  const ran = await script(...args);
  expect(ran.code, `federation.sh ${args.join(" ")}:\n${ran.output}`).toBe(0);
  return ran.output;
}

function ourNamespaces(): string[] {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  return list
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(`${PREFIX}-`));
}

/** Processes whose command line names the test's folder (what the script started). */
function ourProcesses(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(join("/proc", entry, "cmdline"), "utf8").includes(dir)) pids.push(Number(entry));
    } catch {
      // it ended meanwhile
    }
  }
  return pids;
}

let watcher: ChildProcess | undefined;

afterAll(async () => {
  watcher?.kill("SIGKILL");
  if (skipReason !== undefined) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  // Whatever the test got to, nothing stays: the script's own teardown, then a backstop.
  await script("down", "--purge");
  for (const pid of ourProcesses()) process.kill(pid, "SIGKILL");
  for (const name of ourNamespaces()) spawnSync("ip", ["netns", "del", name]);
  rmSync(join("/etc/netns", `${PREFIX}-coordinator`), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const at = (event: FlEvent | undefined) => (event ? Date.parse(event.timestamp) : Number.NaN);

describe("a federation across network namespaces", () => {
  it("loses a hospital whose link is cut mid-round, finishes the round without it, and takes it back after the link returns", {
    timeout: 150_000,
  }, async (ctx) => {
    if (skipReason !== undefined) ctx.skip(skipReason);
    // Rounds of a second or more, so that the cut lands while round 2 is open.
    await ok(
      "up",
      "--prefix",
      PREFIX,
      "--rounds",
      "3",
      "--image-size",
      "32",
      "--images-per-site",
      "120",
      "--epochs",
      "8",
    );
    // The hosts' addresses exist only in their namespaces, never in the machine's own.
    const addresses = (...netns: string[]) =>
      spawnSync("ip", [...netns, "-o", "-4", "addr", "show"], { encoding: "utf8" }).stdout;
    expect(addresses()).not.toContain("10.77.0.");
    expect(addresses("-n", `${PREFIX}-coordinator`)).toMatch(/eth0\s+inet 10\.77\.0\.10\/24/);
    await ok("run");

    const events: FlEvent[] = [];
    let cutAt: number | undefined;
    let restoredAt: number | undefined;
    let restored: Promise<string> | undefined;
    let watchErr = "";
    const completed = new Promise<void>((resolve) => {
      watcher = spawn("bash", [SCRIPT, "--dir", dir, "events", "--replay", "--json"], {
        env: { ...process.env, NODE: process.execPath },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let partial = "";
      watcher.stderr?.on("data", (chunk: Buffer) => {
        watchErr += chunk;
      });
      watcher.stdout?.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.startsWith("{")) continue;
          const event = JSON.parse(line) as FlEvent;
          events.push(event);
          if (event.type === "round.started" && event.round === 2 && cutAt === undefined) {
            cutAt = Date.now();
            restored = ok("cut", VICTIM).then(
              () =>
                new Promise<string>((done) =>
                  setTimeout(() => {
                    restoredAt = Date.now();
                    done(ok("restore", VICTIM));
                  }, CUT_MS),
                ),
            );
          }
          if (event.type === "federation.completed") resolve();
        }
      });
    });

    const waited = await script("wait", "--timeout", "110");
    const logs = () =>
      ["coordinator", ...SITES]
        .map((name) => `--- ${name}\n${readFileSync(join(dir, "logs", `${name}.log`), "utf8")}`)
        .join("\n");
    expect(waited.code, `${waited.output}\n${logs()}\nwatcher: ${watchErr}`).toBe(0);
    await restored;
    await Promise.race([completed, new Promise((r) => setTimeout(r, 10_000))]);
    watcher?.kill("SIGTERM");

    // Every process ended by itself, with success: the coordinator and each hospital.
    for (const name of ["coordinator", ...SITES])
      expect(readFileSync(join(dir, "run", `${name}.rc`), "utf8").trim(), name).toBe("0");
    // Over mutual TLS, on the coordinator namespace's own address (the words are the same in a
    // line log and in a JSON one).
    expect(readFileSync(join(dir, "coordinator", "state", "coordinator.addr"), "utf8")).toBe(
      "10.77.0.10:50051\n",
    );
    expect(readFileSync(join(dir, "logs", "coordinator.log"), "utf8")).toContain(
      "listening on 10.77.0.10:50051 (mutual TLS); 3 sites enrolled",
    );

    // The events, as NATS delivered them.
    const of = (type: FlEvent["type"], round?: number) =>
      events.filter((e) => e.type === type && (round === undefined || e.round === round));
    const accepted = (round: number) =>
      of("update.accepted", round)
        .map((e) => e.siteId)
        .sort();
    expect(cutAt, "round 2 never started").toBeDefined();
    expect(
      accepted(2),
      `round 2 must complete without ${VICTIM}: if its update is here, the cut came too late`,
    ).toEqual(OTHERS);
    const [round2] = of("round.completed", 2);
    expect(round2?.data).toMatchObject({
      accepted: 2,
      failures: [{ siteId: VICTIM, reason: "client lost: missed heartbeats" }],
    });
    const lost = of("site.left").find((e) => e.siteId === VICTIM && e.data.reason === "missed heartbeats");
    expect(lost, JSON.stringify(of("site.left"))).toBeDefined();
    // Lost only once the heartbeat timeout had passed, and while the link was still down.
    expect(at(lost) - (cutAt ?? 0)).toBeGreaterThanOrEqual(HEARTBEAT_TIMEOUT_MS - 1000);
    expect(at(lost)).toBeLessThan(restoredAt ?? 0);
    // Back after the restore: joined again, trained in round 3 with the others.
    const rejoined = of("site.joined").filter((e) => e.siteId === VICTIM && at(e) > at(lost));
    expect(rejoined).toHaveLength(1);
    expect(at(rejoined[0])).toBeGreaterThan(restoredAt ?? Number.POSITIVE_INFINITY);
    expect(of("round.started", 3)[0]?.data.sampled).toEqual(SITES);
    expect(accepted(3)).toEqual(SITES);
    expect(of("federation.completed")[0]?.data).toMatchObject({ rounds: 3 });

    // The coordinator's own record agrees with what NATS carried.
    const store = StateStore.open(join(dir, "coordinator", "state", "state.db"), { federationId: "netns" });
    try {
      const rounds = store.listRounds();
      expect(rounds.map((r) => [r.round, r.status, r.acceptedCount])).toEqual([
        [1, "completed", 3],
        [2, "completed", 2],
        [3, "completed", 3],
      ]);
      expect(rounds[1]?.failures).toEqual([{ siteId: VICTIM, reason: "client lost: missed heartbeats" }]);
      for (const round of [1, 2, 3]) {
        const stored = store
          .listUpdates({ round })
          .filter((u) => u.status === "accepted")
          .map((u) => u.siteId)
          .sort();
        expect(stored, `round ${round}`).toEqual(accepted(round));
      }
    } finally {
      store.close();
    }
  });

  it("leaves no namespace, process, hosts file or folder behind", async (ctx) => {
    if (skipReason !== undefined) ctx.skip(skipReason);
    watcher?.kill("SIGKILL");
    await ok("down", "--purge");
    expect(ourNamespaces()).toEqual([]);
    expect(ourProcesses()).toEqual([]);
    expect(existsSync(join("/etc/netns", `${PREFIX}-coordinator`))).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
