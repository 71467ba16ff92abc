import { randomBytes } from "node:crypto";
import { createJoinChallenge, type PublicIdentity, verifyJoin } from "../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";

export interface RegistryOptions {
  readonly federationId: string;
  readonly enrolled: ReadonlyMap<string, PublicIdentity>;
  readonly now: () => number;
  /** A session with no call for this long is considered gone. */
  readonly heartbeatTimeoutMs: number;
  readonly challengeTtlMs?: number;
}

interface Session {
  readonly token: string;
  readonly siteId: string;
  lastSeenMs: number;
}

/**
 * Who is connected. Only enrolled sites can join, by signing a fresh one-time challenge; a
 * session token then authenticates each call. A site joining again replaces its old session.
 */
export class SiteRegistry {
  private readonly challenges = new Map<string, { challenge: Uint8Array; expiresAtMs: number }>();
  private readonly sessions = new Map<string, Session>();
  private readonly bySite = new Map<string, Session>();

  constructor(private readonly options: RegistryOptions) {}

  enrolledSite(siteId: string): PublicIdentity {
    const site = this.options.enrolled.get(siteId);
    if (!site) {
      throw new FlError(
        ErrorCode.UnknownSite,
        `site "${siteId}" is not enrolled with this coordinator: add its public key file to the coordinator's sitesDir`,
      );
    }
    return site;
  }

  issueChallenge(siteId: string): { challenge: Uint8Array; expiresAtMs: number } {
    this.enrolledSite(siteId);
    const entry = {
      challenge: createJoinChallenge(),
      expiresAtMs: this.options.now() + (this.options.challengeTtlMs ?? 60_000),
    };
    this.challenges.set(siteId, entry);
    return entry;
  }

  /** Verifies the signed challenge; returns the new session token and whether the site was already connected. */
  join(siteId: string, challenge: Uint8Array, signature: Uint8Array): { token: string; rejoined: boolean } {
    const site = this.enrolledSite(siteId);
    const pending = this.challenges.get(siteId);
    this.challenges.delete(siteId);
    if (!pending || !sameBytes(pending.challenge, challenge)) {
      throw new FlError(
        ErrorCode.Unauthenticated,
        `no outstanding challenge for "${siteId}" matches: call GetChallenge again`,
      );
    }
    if (pending.expiresAtMs < this.options.now()) {
      throw new FlError(
        ErrorCode.Unauthenticated,
        `the join challenge for "${siteId}" expired: call GetChallenge again`,
      );
    }
    if (!verifyJoin(site, this.options.federationId, challenge, signature)) {
      throw new FlError(
        ErrorCode.SignatureInvalid,
        `join signature of "${siteId}" does not verify against its enrolled key`,
      );
    }
    const previous = this.bySite.get(siteId);
    if (previous) this.sessions.delete(previous.token);
    const session: Session = {
      token: randomBytes(24).toString("base64url"),
      siteId,
      lastSeenMs: this.options.now(),
    };
    this.sessions.set(session.token, session);
    this.bySite.set(siteId, session);
    return { token: session.token, rejoined: previous !== undefined };
  }

  /** The site of a session; every authenticated call counts as a heartbeat. */
  authenticate(token: string): string {
    const session = this.sessions.get(token);
    if (!session) {
      throw new FlError(
        ErrorCode.Unauthenticated,
        "unknown or expired session (the coordinator may have restarted): join again",
      );
    }
    session.lastSeenMs = this.options.now();
    return session.siteId;
  }

  leave(token: string): string | undefined {
    const session = this.sessions.get(token);
    if (!session) return undefined;
    this.drop(session);
    return session.siteId;
  }

  /** Sites currently connected, sorted. */
  activeSites(): string[] {
    return [...this.bySite.keys()].sort();
  }

  isActive(siteId: string): boolean {
    return this.bySite.has(siteId);
  }

  /** Ends sessions that missed their heartbeats and returns their sites. */
  sweep(): string[] {
    const cutoff = this.options.now() - this.options.heartbeatTimeoutMs;
    const gone: string[] = [];
    for (const session of [...this.bySite.values()]) {
      if (session.lastSeenMs < cutoff) {
        this.drop(session);
        gone.push(session.siteId);
      }
    }
    return gone;
  }

  private drop(session: Session): void {
    this.sessions.delete(session.token);
    if (this.bySite.get(session.siteId) === session) this.bySite.delete(session.siteId);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
