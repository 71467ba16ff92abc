import { join } from "node:path";
import { readIdentityFile, readPublicIdentityFile } from "../../../shared/src/config/key-files.js";
import { readFileBytes } from "../../../shared/src/config/load.js";
import { PLAN_COMPLETE_REASON } from "../../../shared/src/fl/protocol-constants.js";
import { CLIENT_VERSION } from "../main.js";
import { SiteNode } from "../node.js";
import { unlimitedSlots } from "../training-slots.js";
import { GrpcCoordinatorPort, SITE_CHANNEL_OPTIONS } from "../transport/grpc/coordinator-client.js";
import { withGates } from "./call-gates.js";
import type { VirtualSitesConfig } from "./config.js";
import { Gate } from "./gate.js";
import { virtualSiteInfos } from "./site-info.js";
import { WorkerPool } from "./worker-pool.js";

/** What SiteNode.run says when it was stopped here. */
const STOPPED_REASON = "stopped";

/** Hospitals joining, or downloading the model, at once: enough to keep the loopback busy, few enough to keep both event loops free. */
const CONCURRENT_JOINS = 8;
const CONCURRENT_DOWNLOADS = 8;

/**
 * A hospital's keepalive pings, slowed: 500 connections pinging every 10 s with 5 s to answer
 * share one event loop, and one stall of 5 s (a loaded machine) drops every connection at once,
 * so that all the hospitals rejoin together.
 */
const CHANNEL_OPTIONS = {
  ...SITE_CHANNEL_OPTIONS,
  "grpc.keepalive_time_ms": 60_000,
  "grpc.keepalive_timeout_ms": 30_000,
};

export interface VirtualSitesHooks {
  readonly log: (line: string) => void;
  /** Once the workers are up, with the backend they loaded and their process ids. */
  readonly onReady?: (info: { backend: string; backendDetail: string; workerPids: number[] }) => void;
  /** Gives the caller a way to stop every site (a signal, the parent gone). */
  readonly onStarted?: (stop: () => void) => void;
}

/** How the sites' nodes ended: heard the plan complete, stopped here, or failed (and why). */
export interface VirtualSitesResult {
  readonly completed: number;
  readonly stopped: number;
  readonly failures: { readonly siteId: string; readonly reason: string }[];
}

/**
 * Many hospitals in one process: each its own identity, TLS client certificate, gRPC channel,
 * session and SiteNode (which seals, signs and uploads its updates as a hospital's process
 * does), their training queued onto a pool of k trainer workers.
 */
export async function runVirtualSites(
  config: VirtualSitesConfig,
  hooks: VirtualSitesHooks,
): Promise<VirtualSitesResult> {
  const { log } = hooks;
  const coordinator = readPublicIdentityFile(config.coordinatorPublicKey);
  const ca = config.tls ? readFileBytes(config.tls.ca, "TLS CA certificate") : undefined;
  const { pool, ready } = await WorkerPool.start({
    workers: config.workers,
    backend: config.backend,
    cacheDir: join(config.workDir, "cache"),
    log,
  });
  const ports: GrpcCoordinatorPort[] = [];
  try {
    log(
      `${config.workers} trainer worker${config.workers === 1 ? "" : "s"} ready on backend ${ready.backend} (${ready.backendDetail}) for ${config.sites.length} virtual hospitals`,
    );
    hooks.onReady?.({ backend: ready.backend, backendDetail: ready.backendDetail, workerPids: pool.pids });
    const planned = performance.now();
    const infos = await virtualSiteInfos(config.sites, ready.backend, CLIENT_VERSION);
    log(
      `what the ${infos.size} hospitals declare at join, from their catalogs: ${(performance.now() - planned).toFixed(0)} ms`,
    );
    const joins = new Gate(CONCURRENT_JOINS);
    // Only the challenge, which opens the connection, waits: a join gated too would queue behind
    // every other hospital's challenge, and the first hospital would join after all had asked.
    const gates = { getChallenge: joins, downloadModel: new Gate(CONCURRENT_DOWNLOADS) };
    const nodes = config.sites.map((site) => {
      const identity = readIdentityFile(join(config.keysDir, `${site.siteId}.identity.json`));
      const tls = config.tls;
      const port = new GrpcCoordinatorPort(
        config.coordinator,
        tls && ca
          ? {
              ca,
              cert: readFileBytes(join(tls.sitesDir, `${site.siteId}.crt`), "TLS certificate"),
              key: readFileBytes(join(tls.sitesDir, `${site.siteId}.key`), "TLS private key"),
            }
          : "insecure",
        CHANNEL_OPTIONS,
      );
      ports.push(port);
      const node = new SiteNode({
        identity,
        coordinator,
        federationId: config.federationId,
        port: withGates(port, gates),
        trainer: pool.trainerFor(site),
        // The pool is the limit on concurrent training: a task waits there for a worker.
        slots: unlimitedSlots,
        siteInfo: infos.get(site.siteId) as NonNullable<ReturnType<typeof infos.get>>,
        reconnectTimeoutMs: config.reconnectTimeoutSec * 1000,
        log: (line) => log(`[${site.siteId}] ${line}`),
      });
      return { siteId: site.siteId, node };
    });
    log(
      `${nodes.length} hospitals' identities, TLS channels and nodes made in ${(performance.now() - planned).toFixed(0)} ms`,
    );
    hooks.onStarted?.(() => {
      for (const { node } of nodes) node.stop();
    });
    const ends = await Promise.all(
      nodes.map(({ siteId, node }) =>
        node.run().then(
          ({ reason }) => ({ siteId, reason }),
          (error: unknown) => ({ siteId, reason: error instanceof Error ? error.message : String(error) }),
        ),
      ),
    );
    const completed = ends.filter((e) => e.reason === PLAN_COMPLETE_REASON).length;
    const stopped = ends.filter((e) => e.reason === STOPPED_REASON).length;
    const failures = ends.filter((e) => e.reason !== PLAN_COMPLETE_REASON && e.reason !== STOPPED_REASON);
    return { completed, stopped, failures };
  } finally {
    pool.close();
    for (const port of ports) port.close();
  }
}
