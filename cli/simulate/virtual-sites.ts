import type { ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { VirtualSitesConfig } from "../../client/src/virtual/config.js";
import type { VirtualSite } from "../../client/src/virtual/sites.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { forkTypeScript } from "../../shared/src/io/ts-child.js";
import type { FederationTlsFiles } from "./certificates.js";

const VIRTUAL_ENTRY = fileURLToPath(new URL("../../client/src/virtual/main.ts", import.meta.url));

/** What the virtual hospitals' process says over IPC once its workers are up. */
export interface VirtualReady {
  readonly backend: string;
  readonly backendDetail: string;
  readonly workerPids: number[];
}

/**
 * Writes virtual-sites.json (every site, its data, the coordinator's address; re-runnable by
 * hand with `tsx client/src/virtual/main.ts virtual-sites.json`) and starts the one process that
 * runs all the virtual hospitals, its output into logs/virtual-hospitals.log.
 */
export function startVirtualHospitals(options: {
  runDir: string;
  federationId: string;
  address: string;
  tls: FederationTlsFiles | undefined;
  sites: readonly VirtualSite[];
  workers: number;
  backend: string;
  onReady: (ready: VirtualReady) => void;
}): ChildProcess {
  const { runDir, tls } = options;
  const config: VirtualSitesConfig = {
    federationId: options.federationId,
    coordinator: options.address,
    coordinatorPublicKey: join(runDir, "keys", "coordinator.public.json"),
    keysDir: join(runDir, "keys", "sites"),
    ...(tls && { tls: { ca: tls.ca, sitesDir: join(dirname(tls.ca), "sites") } }),
    sites: [...options.sites],
    workers: options.workers,
    backend: options.backend,
    workDir: join(runDir, "work", "virtual"),
    // All hospitals share one event loop, which a loaded machine can hold up long enough for
    // their connections to drop together; a hospital process's own default (300 s) rides it out.
    reconnectTimeoutSec: 300,
  };
  const path = join(runDir, "virtual-sites.json");
  writeFileAtomic(path, `${JSON.stringify(config, null, 2)}\n`);
  const child = forkTypeScript(VIRTUAL_ENTRY, [path], { stdio: ["ignore", "pipe", "pipe", "ipc"] });
  const log = createWriteStream(join(runDir, "logs", "virtual-hospitals.log"), { flags: "a" });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once("close", () => log.end());
  child.on("message", (message: { type?: string } & Partial<VirtualReady>) => {
    if (message.type === "ready")
      options.onReady({
        backend: message.backend ?? "?",
        backendDetail: message.backendDetail ?? "",
        workerPids: message.workerPids ?? [],
      });
  });
  return child;
}
