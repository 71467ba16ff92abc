import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import YAML from "yaml";
import { configDrift } from "../../coordinator/src/config-drift.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";

/**
 * Settings a resumed run may change: how it runs here, not what it computes (the backend gives
 * the same results within float noise, restarts and NATS are supervision, TLS is the channel, the
 * central evaluation only looks at the models).
 */
const RUNTIME_SETTINGS = ["backend", "restartClients", "natsUrl", "insecure", "centralEval"] as const;

function federationSettings(settings: { simulation: object; sites: readonly string[] }): unknown {
  const simulation: Record<string, unknown> = { ...settings.simulation };
  for (const key of RUNTIME_SETTINGS) delete simulation[key];
  return JSON.parse(JSON.stringify({ simulation, sites: settings.sites }));
}

/**
 * A run folder is resumed only with the settings it was started with (its config.json): other
 * widths or image sizes would meet the old checkpoint, and the results would mix two setups.
 */
export function refuseChangedSettings(
  runDir: string,
  settings: { simulation: object; sites: readonly string[] },
): void {
  const path = join(runDir, "config.json");
  if (!existsSync(path)) return;
  const stored = JSON.parse(readFileSync(path, "utf8")) as { simulation: object; sites: string[] };
  const drift = configDrift(federationSettings(stored), federationSettings(settings));
  if (drift.length === 0) return;
  throw new FlError(
    ErrorCode.InvalidConfig,
    `${runDir} holds a simulation started with other settings (${path}); changed:\n${drift.map((d) => `  ${d}`).join("\n")}\nrun it with its own settings to resume it, or give another --out to start a new one`,
  );
}

/**
 * The port a previous start of this run wrote into its coordinator config, if any: of `listen`,
 * or of `admin.listen` with `of: "admin"`.
 */
export function previousPort(coordinatorYaml: string, of: "grpc" | "admin" = "grpc"): number | undefined {
  if (!existsSync(coordinatorYaml)) return undefined;
  const config = YAML.parse(readFileSync(coordinatorYaml, "utf8")) as {
    listen?: unknown;
    admin?: { listen?: unknown } | null;
  } | null;
  const listen = of === "grpc" ? config?.listen : config?.admin?.listen;
  const port = typeof listen === "string" ? Number(listen.slice(listen.lastIndexOf(":") + 1)) : Number.NaN;
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/** A loopback port free now: `preferred` when it is, else one the system picks (never one in `taken`). */
export async function freePort(preferred?: number, taken: readonly number[] = []): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(undefined));
      server.listen(port, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : undefined));
      });
    });
  const pick = async (): Promise<number | undefined> => {
    if (preferred !== undefined && !taken.includes(preferred)) {
      const port = await tryPort(preferred);
      if (port !== undefined) return port;
    }
    // A port just closed may be handed out again: ask until it is not one already chosen.
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await tryPort(0);
      if (port === undefined || !taken.includes(port)) return port;
    }
    return undefined;
  };
  const port = await pick();
  if (port === undefined) throw new FlError(ErrorCode.Internal, "no free loopback port for the coordinator");
  return port;
}

/**
 * Removes what a first start that failed before the coordinator listened wrote, so that the next
 * try starts afresh rather than "resuming" a folder with nothing in it.
 */
export function removeFailedStart(runDir: string, createdRunDir: boolean): void {
  if (createdRunDir) rmSync(runDir, { recursive: true, force: true });
  else for (const entry of readdirSync(runDir)) rmSync(join(runDir, entry), { recursive: true, force: true });
}
