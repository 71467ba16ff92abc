import type { Identity } from "../../../shared/src/crypto/index.js";
import {
  CLIENT_NONCE_BYTES,
  challengeMessage,
  doneMessage,
  grantMessage,
  responseMac,
  signStatement,
  taskMessage,
} from "../../../shared/src/crypto/session-auth.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { checkSiteId, checkSiteInfo, MAX_REASON_CHARS, sanitiseText } from "../../../shared/src/fl/limits.js";
import type {
  Caller,
  ChallengeRequest,
  HeartbeatAck,
  JoinChallenge,
  JoinGrant,
  JoinRequest,
  PullOutcome,
  RequestAuth,
  SignedHeartbeatAck,
  SignedPullOutcome,
} from "../../../shared/src/fl/messages.js";
import {
  answerBody,
  callBody,
  SessionMethod,
  signedTaskFields,
} from "../../../shared/src/fl/session-calls.js";
import { SiteRegistry } from "../registry.js";
import type { Cancel, Clock } from "./clock.js";
import type { EnrolledSites } from "./enrolment.js";
import type { FederationEvents } from "./events.js";
import { Notifier } from "./notifier.js";
import type { FederationStore } from "./store.js";
import type { TaskBoard } from "./task-board.js";

/** A wait for sites re-counts at least this often, should the wake-up of a join be missed. */
const SITE_POLL_MS = 1000;

export interface SessionsOptions {
  readonly federationId: string;
  readonly identity: Identity;
  readonly enrolled: EnrolledSites;
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
 * Who is connected, and the coordinator's half of authentication: sites join with a signed
 * challenge, every call of a session proves itself with a MAC and keeps the site alive, and a
 * sweep ends the sessions that went silent. What the coordinator tells a site that it must be
 * able to trust (its challenge, the grant, tasks, the end, a cancellation) is signed or MACed
 * here. A site that leaves or is lost fails its open task at once, so the round does not wait.
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
      encryptionSecretKey: options.identity.encryption.secretKey,
      now: () => options.clock.now(),
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      logRefusal: options.log,
    });
    this.joins = new Notifier(options.clock);
  }

  /** The same for enrolled and unknown sites: whether a site is enrolled shows only at join. */
  challenge(request: ChallengeRequest & Caller): JoinChallenge {
    const { siteId, clientNonce } = request;
    checkSiteId(siteId);
    if (!(clientNonce instanceof Uint8Array) || clientNonce.length !== CLIENT_NONCE_BYTES) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `a challenge request needs a client nonce of ${CLIENT_NONCE_BYTES} fresh random bytes (got ${clientNonce?.length ?? 0}): the client is older than this coordinator`,
      );
    }
    const { federationId, identity } = this.options;
    const { challenge, expiresAtMs } = this.registry.issueChallenge(siteId);
    const statement = {
      federationId,
      siteId,
      clientNonce,
      challenge,
      expiresAtMs,
      channelBinding: request.channelBinding ?? "",
    };
    return {
      challenge,
      federationId,
      expiresAtMs,
      coordinatorSignature: signStatement(challengeMessage(statement), identity),
    };
  }

  join(request: JoinRequest & Caller): JoinGrant {
    const { siteId } = request;
    checkSiteId(siteId);
    if (request.info) checkSiteInfo(request.info);
    const { token, rejoined } = this.registry.join(
      siteId,
      request.challenge,
      request.signature,
      request.channelBinding ?? "",
    );
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
    const { federationId, identity, heartbeatIntervalMs } = this.options;
    const grant = {
      federationId,
      siteId,
      challenge: request.challenge,
      sessionToken: token,
      heartbeatIntervalMs,
    };
    return {
      sessionToken: token,
      federationId,
      coordinatorEncryptionPublicKey: identity.encryption.publicKey,
      coordinatorSigningPublicKey: identity.signing.publicKey,
      heartbeatIntervalMs,
      coordinatorSignature: signStatement(grantMessage(grant), identity),
    };
  }

  /**
   * The training examples a site declared at its latest join (the sum of its class counts), or
   * undefined when it declared none: the most examples an update of it may claim.
   */
  declaredTrainingExamples(siteId: string): number | undefined {
    return this.declaredTraining.get(siteId);
  }

  /**
   * The site of a call, once its session, channel, sequence number and MAC (over `method` and
   * `body`, built with session-calls.ts) check out; every such call counts as a sign of life.
   */
  authenticate(call: RequestAuth & Caller, method: SessionMethod, body: unknown): string {
    return this.registry.authenticate(call, call.channelBinding ?? "", method, body).siteId;
  }

  /** FlError(Unauthenticated) once the session is no longer the site's current one. */
  checkStillValid(token: string): void {
    this.registry.session(token);
  }

  /** A pull's outcome as the site can trust it: a task or the end signed by the coordinator. */
  signPull(siteId: string, call: RequestAuth, outcome: PullOutcome): SignedPullOutcome {
    const { federationId, identity } = this.options;
    switch (outcome.kind) {
      case "task":
        return {
          ...outcome,
          signature: signStatement(
            taskMessage(federationId, siteId, signedTaskFields(outcome.task)),
            identity,
          ),
        };
      case "done": {
        const statement = {
          federationId,
          siteId,
          sessionToken: call.sessionToken,
          sequence: call.sequence,
          reason: outcome.reason,
        };
        return { ...outcome, signature: signStatement(doneMessage(statement), identity) };
      }
      case "wait":
        return outcome;
    }
  }

  /** A heartbeat's answer MACed for the call it answers. */
  signHeartbeatAck(call: RequestAuth, ack: HeartbeatAck): SignedHeartbeatAck {
    const { key } = this.registry.session(call.sessionToken);
    return {
      ...ack,
      mac: responseMac(key, SessionMethod.Heartbeat, call.sequence, answerBody.heartbeat(ack)),
    };
  }

  /** The MAC of an answer to the call it answers (method and body built with session-calls.ts). */
  answerMac(call: RequestAuth, method: SessionMethod, body: unknown): Uint8Array {
    const { key } = this.registry.session(call.sessionToken);
    return responseMac(key, method, call.sequence, body);
  }

  /** Idempotent: a session already gone is ignored (the call is still authenticated if it exists). */
  leave(call: RequestAuth & Caller, rawReason: string): void {
    try {
      this.authenticate(call, SessionMethod.Leave, callBody.leave(rawReason));
    } catch (error) {
      if (error instanceof FlError && error.code === ErrorCode.Unauthenticated) return;
      throw error;
    }
    const siteId = this.registry.leave(call.sessionToken);
    if (!siteId) return;
    // Informational text from the site: kept, but bounded and on one line.
    const reason = sanitiseText(rawReason, MAX_REASON_CHARS);
    void this.options.events.publish("site.left", { siteId, data: { reason: reason || "left" } });
    this.options.log(`${siteId} left: ${reason || "no reason given"}`);
    this.options.board.fail(siteId, `client left: ${reason || "no reason given"}`);
  }

  /** A revoked site: its session ends at once and its open task fails. */
  revoked(siteId: string, reason: string): void {
    if (this.registry.endSessionOf(siteId)) this.options.log(`${siteId}: session ended: site revoked`);
    this.options.board.fail(siteId, `site revoked: ${reason}`);
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
