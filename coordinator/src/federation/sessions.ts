import type { Identity, PublicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { checkSiteId, checkSiteInfo, MAX_REASON_CHARS, sanitiseText } from "../../../shared/src/fl/limits.js";
import type { JoinChallenge, JoinGrant, JoinRequest } from "../../../shared/src/fl/messages.js";
import { SiteRegistry } from "../registry.js";
import type { Cancel, Clock } from "./clock.js";
import type { FederationEvents } from "./events.js";
import { Notifier } from "./notifier.js";
import type { FederationStore } from "./store.js";
import type { TaskBoard } from "./task-board.js";

/** A wait for sites re-counts at least this often, should the wake-up of a join be missed. */
const SITE_POLL_MS = 1000;

export interface SessionsOptions {
  readonly federationId: string;
  readonly identity: Identity;
  readonly enrolled: ReadonlyMap<string, PublicIdentity>;
  /** A site silent for this long is gone and its task fails. */
  readonly heartbeatTimeoutMs: number;
  /** How often a working client should heartbeat (told to each site when it joins). */
  readonly heartbeatIntervalMs: number;
  readonly store: Pick<FederationStore, "recordJoin">;
  readonly board: TaskBoard;
  readonly events: FederationEvents;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/**
 * Who is connected: sites join with a signed challenge, every call with their session token
 * keeps them alive, and a sweep ends the sessions that went silent. A site that leaves or is
 * lost fails its open task at once, so the round does not wait for it.
 */
export class Sessions {
  private readonly registry: SiteRegistry;
  private readonly joins: Notifier;
  /** What each site said at its latest join about its training set (absent: it declared none). */
  private readonly declaredTraining = new Map<string, number>();

  constructor(private readonly options: SessionsOptions) {
    this.registry = new SiteRegistry({
      federationId: options.federationId,
      enrolled: options.enrolled,
      now: () => options.clock.now(),
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    });
    this.joins = new Notifier(options.clock);
  }

  challenge(siteId: string): JoinChallenge {
    checkSiteId(siteId);
    const { challenge, expiresAtMs } = this.registry.issueChallenge(siteId);
    return { challenge, federationId: this.options.federationId, expiresAtMs };
  }

  join(request: JoinRequest): JoinGrant {
    const { siteId } = request;
    checkSiteId(siteId);
    if (request.info) checkSiteInfo(request.info);
    const { token, rejoined } = this.registry.join(siteId, request.challenge, request.signature);
    this.options.store.recordJoin(siteId, this.options.clock.now(), { ...request.info });
    if (request.info)
      this.declaredTraining.set(
        siteId,
        sum(request.info.trainClassCounts) + request.info.trainUnlabelledCount,
      );
    else this.declaredTraining.delete(siteId);
    this.options.board.rejoined(siteId);
    const backend = request.info?.backend ?? "unknown";
    void this.options.events.publish("site.joined", { siteId, data: { rejoined, backend } });
    this.options.log(`${siteId} joined${rejoined ? " again" : ""} (backend ${backend})`);
    this.joins.notify();
    return {
      sessionToken: token,
      federationId: this.options.federationId,
      coordinatorEncryptionPublicKey: this.options.identity.encryption.publicKey,
      coordinatorSigningPublicKey: this.options.identity.signing.publicKey,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
    };
  }

  /**
   * The training examples a site declared at its latest join (the sum of its class counts), or
   * undefined when it declared none: the most examples an update of it may claim.
   */
  declaredTrainingExamples(siteId: string): number | undefined {
    return this.declaredTraining.get(siteId);
  }

  /** The site of a session; every authenticated call counts as a sign of life. */
  authenticate(token: string): string {
    return this.registry.authenticate(token);
  }

  /** Idempotent: an unknown session is ignored. */
  leave(token: string, rawReason: string): void {
    const siteId = this.registry.leave(token);
    if (!siteId) return;
    // Informational text from the site: kept, but bounded and on one line.
    const reason = sanitiseText(rawReason, MAX_REASON_CHARS);
    void this.options.events.publish("site.left", { siteId, data: { reason: reason || "left" } });
    this.options.log(`${siteId} left: ${reason || "no reason given"}`);
    this.options.board.fail(siteId, `client left: ${reason || "no reason given"}`);
  }

  /** Sweeps for lost sites until cancelled. */
  startSweeping(): Cancel {
    return this.options.clock.every(Math.min(1000, this.options.heartbeatIntervalMs), () => this.sweep());
  }

  /** The connected sites, sorted, once at least `min` are; FlError(FailedPrecondition) when stopped. */
  async waitForSites(min: number, signal: AbortSignal): Promise<string[]> {
    let announced = false;
    for (;;) {
      if (signal.aborted) throw new FlError(ErrorCode.FailedPrecondition, "stopped");
      const sites = this.registry.activeSites();
      if (sites.length >= min) return sites;
      if (!announced) {
        this.options.log(`waiting for sites: ${sites.length} connected, ${min} needed`);
        announced = true;
      }
      await this.joins.wait(SITE_POLL_MS, signal);
    }
  }

  private sweep(): void {
    for (const siteId of this.registry.sweep()) {
      void this.options.events.publish("site.left", { siteId, data: { reason: "missed heartbeats" } });
      this.options.log(`${siteId} left: missed heartbeats`);
      this.options.board.fail(siteId, "client lost: missed heartbeats");
    }
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}
