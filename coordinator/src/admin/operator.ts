import { join } from "node:path";
import type { FlEvent } from "../../../shared/src/events/types.js";
import type { CoordinatorService } from "../../../shared/src/fl/ports.js";
import { writeFileAtomic } from "../../../shared/src/io/atomic-file.js";
import type { CoordinatorConfig } from "../config.js";
import type { TaskProgress } from "../federation/task-board.js";
import type { LiveFeed } from "./dashboard/http.js";
import { FederationMetrics } from "./metrics.js";
import { observedService } from "./observed-service.js";
import { type AdminServer, loadOrCreateAdminToken, type SiteRoutes, startAdminServer } from "./server.js";
import { type FederationHistory, type FederationStatus, StatusTracker } from "./status.js";
import type { StatusSeed } from "./status-seed.js";

/**
 * What the operator sees of a running coordinator: its status and its metrics, fed by the
 * federation's events, its sites' task progress and the transport's calls.
 */
export class OperatorView {
  readonly tracker: StatusTracker;
  readonly metrics: FederationMetrics;
  private readonly listeners = new Set<() => void>();

  constructor(
    federationId: string,
    enrolled: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    this.tracker = new StatusTracker(federationId, enrolled);
    this.metrics = new FederationMetrics({
      federationId,
      sitesConnected: () => this.tracker.connectedSites(),
      sitesEnrolled: () => this.tracker.enrolledSites(),
    });
  }

  /** What the state store held at start (see StatusTracker.restore). */
  restore(seed: StatusSeed): void {
    this.tracker.restore(seed);
    this.changed();
  }

  event(event: FlEvent): void {
    this.tracker.event(event);
    this.metrics.event(event);
    this.changed();
  }

  progress(progress: TaskProgress): void {
    this.tracker.progress(progress, this.now());
    this.changed();
  }

  /** The coordinator as the transport should call it, so that calls count as signs of life. */
  observe(service: CoordinatorService): CoordinatorService {
    return observedService(service, {
      seen: (siteId) => {
        this.tracker.seen(siteId, this.now());
        this.changed();
      },
      uploadOpened: () => this.metrics.uploadOpened(),
      uploadChunk: (bytes) => this.metrics.uploadChunk(bytes),
      uploadClosed: () => this.metrics.uploadClosed(),
    });
  }

  finished(result: { status: "completed" | "failed"; reason: string }): void {
    this.tracker.finished(result);
    this.changed();
  }

  status(): FederationStatus {
    return this.tracker.snapshot(this.now());
  }

  /** What the dashboard shows: the status and the rounds and evaluations for its curve. */
  live(): { status: FederationStatus; history: FederationHistory } {
    return { status: this.status(), history: this.tracker.history() };
  }

  /** Calls `listener` after anything the status shows may have changed; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/**
 * Starts the operator endpoint of `admin` (GET /status, /metrics, /healthz, /dashboard) and writes where it
 * listens to <stateDir>/admin.addr, which `fl status --run` reads.
 */
export async function startOperatorEndpoint(
  admin: NonNullable<CoordinatorConfig["admin"]>,
  stateDir: string,
  view: OperatorView,
  log: (line: string) => void,
  /** Enrolment while running (`fl sites`): absent, the endpoint only reads. */
  sites?: SiteRoutes,
): Promise<AdminServer> {
  const token = loadOrCreateAdminToken(admin.tokenFile, log);
  const host = admin.listen.slice(0, admin.listen.lastIndexOf(":"));
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)$/.test(host))
    log(
      `WARNING: the operator endpoint on ${admin.listen} is plain HTTP beyond this host: its bearer token crosses the network readable; put it behind a TLS proxy or listen on 127.0.0.1`,
    );
  const server = await startAdminServer({
    listen: admin.listen,
    token,
    log,
    routes: {
      status: () => view.status(),
      metrics: async () => ({ contentType: view.metrics.contentType, body: await view.metrics.text() }),
      healthy: () => view.status().state === "running",
      live: {
        snapshot: () => view.live(),
        subscribe: (listener) => view.subscribe(listener),
      } satisfies LiveFeed,
      ...(sites && { sites }),
    },
  });
  const address = `${host}:${server.port}`;
  writeFileAtomic(join(stateDir, "admin.addr"), `${address}\n`);
  log(
    `operator endpoint on http://${address} (GET /status, /metrics, /healthz; token in ${admin.tokenFile}; in a browser: /dashboard?token=<the token>)`,
  );
  return server;
}
