import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  generateIdentity,
  type Identity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../shared/src/crypto/index.js";
import { forkTypeScript } from "../../shared/src/io/ts-child.js";

const FL_TS = fileURLToPath(new URL("../../cli/fl.ts", import.meta.url));

/** Polls until `probe` gives a value (or a promise of one). */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface OperatorCoordinator {
  readonly dir: string;
  readonly coordinatorIdentity: Identity;
  /** The identities of the enrolled sites, in the order given. */
  readonly sites: readonly Identity[];
  readonly child: ChildProcess;
  readonly grpcAddress: string;
  /** http://host:port of the operator endpoint. */
  readonly adminBase: string;
  readonly tokenFile: string;
  readonly token: string;
  /** What the coordinator wrote to stderr so far. */
  stderr(): string;
  readonly exited: Promise<number | null>;
  /** Kills the coordinator (if still running) and removes its folder. */
  close(): void;
}

/**
 * A real `fl coordinator` process in plaintext with its operator endpoint on, enrolling
 * `siteIds`, with a tiny model and a classify plan: what operator-facing tests start.
 */
export async function startOperatorCoordinator(options: {
  federationId: string;
  siteIds: readonly string[];
  rounds?: number;
  evaluateEvery?: number;
  /** Default: every enrolled site. */
  minSites?: number;
}): Promise<OperatorCoordinator> {
  const dir = mkdtempSync(join(tmpdir(), "fl-operator-"));
  const coordinatorIdentity = generateIdentity("coordinator");
  const sites = options.siteIds.map((id) => generateIdentity(id));
  mkdirSync(join(dir, "sites"));
  writeFileSync(join(dir, "coordinator.identity.json"), identityToJson(coordinatorIdentity), { mode: 0o600 });
  for (const site of sites)
    writeFileSync(join(dir, "sites", `${site.id}.public.json`), publicIdentityToJson(publicIdentity(site)));
  writeFileSync(
    join(dir, "coordinator.json"),
    JSON.stringify({
      federationId: options.federationId,
      listen: "127.0.0.1:0",
      stateDir: ".",
      identity: "coordinator.identity.json",
      sitesDir: "sites",
      insecure: true,
      admin: { listen: "127.0.0.1:0", tokenFile: "admin.token" },
      model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
      plan: {
        phases: [{ name: "supervised", task: "classify", rounds: options.rounds ?? 1 }],
        minSites: options.minSites ?? sites.length,
        roundTimeoutSec: 120,
        evaluateEvery: options.evaluateEvery ?? 0,
        evaluationTimeoutSec: 60,
        maxRoundAttempts: 1,
      },
      limits: { heartbeatIntervalMs: 200, heartbeatTimeoutSec: 60 },
    }),
  );
  const child = forkTypeScript(FL_TS, ["coordinator", "--config", join(dir, "coordinator.json")], {
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const close = () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const readAddr = (name: string) =>
      existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8").trim() || undefined : undefined;
    const grpcAddress = await waitFor(() => readAddr("coordinator.addr"), "coordinator.addr");
    const adminBase = `http://${await waitFor(() => readAddr("admin.addr"), "admin.addr")}`;
    const tokenFile = join(dir, "admin.token");
    const token = readFileSync(tokenFile, "utf8").trim();
    return {
      dir,
      coordinatorIdentity,
      sites,
      child,
      grpcAddress,
      adminBase,
      tokenFile,
      token,
      stderr: () => stderr,
      exited,
      close,
    };
  } catch (error) {
    close();
    throw error;
  }
}
