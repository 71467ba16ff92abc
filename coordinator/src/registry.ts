import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { lengthPrefixed, toHex, u64, utf8 } from "../../shared/src/crypto/encoding.js";
import {
  createJoinChallenge,
  JOIN_CHALLENGE_BYTES,
  type PublicIdentity,
  sharedKey,
  verifyJoin,
} from "../../shared/src/crypto/index.js";
import { deriveSessionKey, macEquals, requestMac } from "../../shared/src/crypto/session-auth.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type { RequestAuth } from "../../shared/src/fl/messages.js";
import type { EnrolledSites } from "./federation/enrolment.js";

export interface RegistryOptions {
  readonly federationId: string;
  readonly enrolled: EnrolledSites;
  /** The coordinator's X25519 secret key: with a site's public key it gives their session keys. */
  readonly encryptionSecretKey: Uint8Array;
  readonly now: () => number;
  /** A session with no call for this long is considered gone. */
  readonly heartbeatTimeoutMs: number;
  readonly challengeTtlMs?: number;
  /** Why a join was refused, for the operator's log only: the caller is told less. */
  readonly logRefusal?: (line: string) => void;
}

/**
 * How far behind the highest sequence number of a session a call may arrive and still be taken
 * (calls of one client overlap: a long poll, heartbeats, an upload): each number once.
 */
export const SEQUENCE_WINDOW = 1024;

const TAG_BYTES = 16;
/** Ended sessions whose reason is remembered (a few per site over a long run). */
const MAX_ENDED_SESSIONS = 4096;
/** random || u64 expiry || truncated HMAC tag. */
export const CHALLENGE_BYTES = JOIN_CHALLENGE_BYTES + 8 + TAG_BYTES;

interface Session {
  readonly token: string;
  readonly siteId: string;
  /** Keys the MAC of every call of this session. */
  readonly key: Uint8Array;
  /** The TLS client certificate the session was joined on ("" without one): every call must come over it. */
  readonly channelBinding: string;
  lastSeenMs: number;
  highestSequence: number;
  /** Sequence numbers within the window that were used. */
  readonly used: Set<number>;
}

const UNKNOWN_SITE: PublicIdentity = {
  id: "unknown",
  signingPublicKey: new Uint8Array(32).fill(1),
  encryptionPublicKey: new Uint8Array(32),
};

/** A refusal that says nothing about which sites are enrolled (the log says what was wrong). */
function joinRefused(siteId: string): FlError {
  return new FlError(
    ErrorCode.UnknownSite,
    `join refused for "${siteId}": it is not enrolled with this coordinator, or its signature does not verify against the enrolled key (check the site's identity file against the public key in the coordinator's sitesDir)`,
  );
}

/**
 * Who is connected. Only enrolled sites can join, by signing a fresh one-time challenge; every
 * later call proves its session by a MAC under the session's key and a sequence number used once.
 * A site joining again replaces its old session.
 *
 * Challenges are stateless (random bytes, expiry and an HMAC tag under a secret of this process),
 * so that asking for one changes nothing: nobody can cancel another site's join by asking for a
 * challenge in its name, and the answer is the same for enrolled and unknown sites.
 */
export class SiteRegistry {
  private readonly challengeSecret = randomBytes(32);
  /** Challenges used by a successful join, until they expire: each joins once. */
  private readonly usedChallenges = new Map<string, number>();
  private readonly sessions = new Map<string, Session>();
  private readonly bySite = new Map<string, Session>();
  /** Sites that joined since this coordinator started: a later join of one is a rejoin. */
  private readonly joinedBefore = new Set<string>();
  /**
   * Why recent sessions ended, so that a site calling on one learns it (its link was down longer
   * than the heartbeat timeout, say) rather than a guess that the coordinator restarted.
   */
  private readonly endedSessions = new Map<string, string>();

  constructor(private readonly options: RegistryOptions) {}

  issueChallenge(siteId: string): { challenge: Uint8Array; expiresAtMs: number } {
    const expiresAtMs = this.options.now() + (this.options.challengeTtlMs ?? 60_000);
    const random = createJoinChallenge();
    const challenge = new Uint8Array(CHALLENGE_BYTES);
    challenge.set(random, 0);
    challenge.set(u64(expiresAtMs), JOIN_CHALLENGE_BYTES);
    challenge.set(this.challengeTag(siteId, random, expiresAtMs), JOIN_CHALLENGE_BYTES + 8);
    return { challenge, expiresAtMs };
  }

  /**
   * Verifies the signed challenge; returns the new session and whether the site was already
   * connected. Unknown site and bad signature are refused alike.
   */
  join(
    siteId: string,
    challenge: Uint8Array,
    signature: Uint8Array,
    channelBinding: string,
  ): { token: string; rejoined: boolean } {
    const expiresAtMs = this.checkChallenge(siteId, challenge);
    const site = this.options.enrolled.get(siteId);
    if (!site) {
      // Verified all the same, against a key nobody holds, so that the time of the answer does
      // not tell an unknown site from an enrolled one either.
      verifyJoin(UNKNOWN_SITE, this.options.federationId, challenge, signature, channelBinding);
      this.options.logRefusal?.(`join of "${siteId}" refused: not enrolled (no public key in sitesDir)`);
      throw joinRefused(siteId);
    }
    if (!verifyJoin(site, this.options.federationId, challenge, signature, channelBinding)) {
      this.options.logRefusal?.(
        `join of "${siteId}" refused: its signature does not verify against the enrolled key${channelBinding ? " and this TLS client certificate" : ""}`,
      );
      throw joinRefused(siteId);
    }
    this.usedChallenges.set(toHex(challenge), expiresAtMs);
    const previous = this.bySite.get(siteId);
    if (previous) this.drop(previous, "the site joined again with a new session");
    const session: Session = {
      token: randomBytes(24).toString("base64url"),
      siteId,
      key: deriveSessionKey(
        sharedKey(this.options.encryptionSecretKey, site.encryptionPublicKey),
        this.options.federationId,
        siteId,
        challenge,
      ),
      channelBinding,
      lastSeenMs: this.options.now(),
      highestSequence: 0,
      used: new Set(),
    };
    this.sessions.set(session.token, session);
    this.bySite.set(siteId, session);
    const rejoined = this.joinedBefore.has(siteId);
    this.joinedBefore.add(siteId);
    return { token: session.token, rejoined };
  }

  /**
   * The site of a call: its session exists, it comes over the channel the session was joined on,
   * its sequence number is fresh and its MAC verifies over `method` and `body`. Every
   * authenticated call counts as a sign of life.
   */
  authenticate(call: RequestAuth, channelBinding: string, method: string, body: unknown): Session {
    const session = this.session(call.sessionToken);
    if (session.channelBinding !== channelBinding) {
      throw new FlError(
        ErrorCode.Unauthenticated,
        "this call comes over another TLS client certificate than the session was joined with: join again",
      );
    }
    const { sequence } = call;
    if (
      !Number.isSafeInteger(sequence) ||
      sequence < 1 ||
      sequence <= session.highestSequence - SEQUENCE_WINDOW ||
      session.used.has(sequence)
    ) {
      throw new FlError(
        ErrorCode.Replay,
        `call number ${sequence} of this session was already used or is too old: each call needs a fresh, increasing sequence number`,
      );
    }
    if (!macEquals(requestMac(session.key, method, sequence, body), call.mac)) {
      throw new FlError(
        ErrorCode.SignatureInvalid,
        `the ${method} call's MAC does not verify under the session key (a client bug, or the call was altered)`,
      );
    }
    session.used.add(sequence);
    if (sequence > session.highestSequence) {
      session.highestSequence = sequence;
      for (const old of session.used) if (old <= sequence - SEQUENCE_WINDOW) session.used.delete(old);
    }
    session.lastSeenMs = this.options.now();
    return session;
  }

  /** FlError(Unauthenticated) unless the session is still the site's current one. */
  session(token: string): Session {
    const session = this.sessions.get(token);
    if (!session) {
      const ended = this.endedSessions.get(token);
      throw new FlError(
        ErrorCode.Unauthenticated,
        ended
          ? `this session was ended by the coordinator: ${ended}: join again`
          : "unknown session (the coordinator restarted since it was granted, or it ended long ago): join again",
      );
    }
    return session;
  }

  /** Ends the site's session, if it has one (it was revoked): true when there was one. */
  endSessionOf(siteId: string): boolean {
    const session = this.bySite.get(siteId);
    if (session) this.drop(session, "the site was revoked");
    return session !== undefined;
  }

  leave(token: string): string | undefined {
    const session = this.sessions.get(token);
    if (!session) return undefined;
    this.drop(session, "the site left");
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
    const now = this.options.now();
    for (const [challenge, expiresAtMs] of this.usedChallenges)
      if (expiresAtMs < now) this.usedChallenges.delete(challenge);
    const cutoff = now - this.options.heartbeatTimeoutMs;
    const gone: string[] = [];
    for (const session of [...this.bySite.values()]) {
      if (session.lastSeenMs < cutoff) {
        this.drop(
          session,
          `no call from the site for ${Math.round(this.options.heartbeatTimeoutMs / 1000)} s (missed heartbeats: its link was down, or it stalled), so it was counted as lost`,
        );
        gone.push(session.siteId);
      }
    }
    return gone;
  }

  /** The challenge's expiry, once it is shown to be ours, for this site, unexpired and unused. */
  private checkChallenge(siteId: string, challenge: Uint8Array): number {
    const stale = (why: string) =>
      new FlError(
        ErrorCode.Unauthenticated,
        `the join challenge for "${siteId}" ${why}: call GetChallenge again`,
      );
    if (!(challenge instanceof Uint8Array) || challenge.length !== CHALLENGE_BYTES)
      throw stale("is not one this coordinator issued");
    const random = challenge.subarray(0, JOIN_CHALLENGE_BYTES);
    const expiresAtMs = Number(
      new DataView(challenge.buffer, challenge.byteOffset + JOIN_CHALLENGE_BYTES, 8).getBigUint64(0, false),
    );
    const tag = challenge.subarray(JOIN_CHALLENGE_BYTES + 8);
    if (!timingSafeEqual(tag, this.challengeTag(siteId, random, expiresAtMs)))
      throw stale("is not one this coordinator issued to this site (or it restarted since)");
    if (expiresAtMs < this.options.now()) throw stale("expired");
    if (this.usedChallenges.has(toHex(challenge))) throw stale("was already used");
    return expiresAtMs;
  }

  private challengeTag(siteId: string, random: Uint8Array, expiresAtMs: number): Uint8Array {
    const message = lengthPrefixed("fl.v1/challenge-tag\0", [utf8(siteId), random, u64(expiresAtMs)]);
    return new Uint8Array(createHmac("sha256", this.challengeSecret).update(message).digest()).subarray(
      0,
      TAG_BYTES,
    );
  }

  private drop(session: Session, why: string): void {
    this.sessions.delete(session.token);
    if (this.bySite.get(session.siteId) === session) this.bySite.delete(session.siteId);
    this.endedSessions.set(session.token, why);
    // Bounded: a site that calls on a session ended this long ago learns only that it is unknown.
    if (this.endedSessions.size > MAX_ENDED_SESSIONS) {
      const oldest = this.endedSessions.keys().next().value;
      if (oldest !== undefined) this.endedSessions.delete(oldest);
    }
  }
}
