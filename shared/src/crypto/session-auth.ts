import { createHmac, timingSafeEqual } from "node:crypto";
import nacl from "tweetnacl";
import { canonicalJson } from "./canonical-json.js";
import { lengthPrefixed, u64, utf8 } from "./encoding.js";
import type { Identity } from "./keys.js";
import { signing } from "./primitives.js";

/**
 * The messages that authenticate the coordinator to a site and each call of a session to the
 * coordinator. Every signed or MACed message is a domain tag and length-prefixed fields
 * (`lengthPrefixed`), so that no message of one kind can ever pass as another; docs/protocol.md
 * spells them out byte by byte for independent implementations.
 *
 * Who proves what:
 * - the coordinator signs, with its pinned Ed25519 key, the challenge (over a fresh nonce of the
 *   site's, so it is signed now), the grant of a session, every task and the end of the
 *   federation: a site acts only on what its configured coordinator said;
 * - both derive a session key from their static X25519 keys and the join's challenge; every
 *   later call carries an HMAC under it and a sequence number used once, and the coordinator's
 *   answer to a heartbeat carries one too: a stolen session token alone authorises nothing.
 */

export const CLIENT_NONCE_BYTES = 32;
export const MAC_BYTES = 32;

const CHALLENGE_DOMAIN = "fl.v1/challenge\0";
const GRANT_DOMAIN = "fl.v1/grant\0";
const TASK_DOMAIN = "fl.v1/task\0";
const DONE_DOMAIN = "fl.v1/done\0";
const SESSION_KEY_DOMAIN = "fl.v1/session-key\0";
const REQUEST_DOMAIN = "fl.v1/request\0";
const RESPONSE_DOMAIN = "fl.v1/response\0";

export interface ChallengeStatement {
  readonly federationId: string;
  readonly siteId: string;
  /** The site's fresh nonce from its GetChallenge request. */
  readonly clientNonce: Uint8Array;
  readonly challenge: Uint8Array;
  readonly expiresAtMs: number;
  /** Hex SHA-256 of the TLS client certificate the coordinator saw on the call, "" without one. */
  readonly channelBinding: string;
}

export function challengeMessage(s: ChallengeStatement): Uint8Array {
  return lengthPrefixed(CHALLENGE_DOMAIN, [
    utf8(s.federationId),
    utf8(s.siteId),
    s.clientNonce,
    s.challenge,
    u64(s.expiresAtMs),
    utf8(s.channelBinding),
  ]);
}

export interface GrantStatement {
  readonly federationId: string;
  readonly siteId: string;
  readonly challenge: Uint8Array;
  readonly sessionToken: string;
  readonly heartbeatIntervalMs: number;
}

export function grantMessage(s: GrantStatement): Uint8Array {
  return lengthPrefixed(GRANT_DOMAIN, [
    utf8(s.federationId),
    utf8(s.siteId),
    s.challenge,
    utf8(s.sessionToken),
    u64(s.heartbeatIntervalMs),
  ]);
}

/**
 * A task as it travels, for signing: the envelope, its kind and its spec exactly as the JSON
 * string sent, so that the site checks the very bytes it will parse.
 */
export interface SignedTaskFields {
  readonly taskId: string;
  readonly round: number;
  readonly phase: string;
  readonly kind: string;
  readonly modelVersion: number;
  readonly modelSha256: string;
  readonly modelBytes: number;
  readonly configJson: string;
  readonly deadlineMs: number;
}

export function taskMessage(federationId: string, siteId: string, task: SignedTaskFields): Uint8Array {
  const fields: SignedTaskFields = {
    taskId: task.taskId,
    round: task.round,
    phase: task.phase,
    kind: task.kind,
    modelVersion: task.modelVersion,
    modelSha256: task.modelSha256,
    modelBytes: task.modelBytes,
    configJson: task.configJson,
    deadlineMs: task.deadlineMs,
  };
  return lengthPrefixed(TASK_DOMAIN, [utf8(federationId), utf8(siteId), canonicalJson(fields)]);
}

/** The end of the federation, bound to the session and the very request it answers. */
export function doneMessage(s: {
  readonly federationId: string;
  readonly siteId: string;
  readonly sessionToken: string;
  readonly sequence: number;
  readonly reason: string;
}): Uint8Array {
  return lengthPrefixed(DONE_DOMAIN, [
    utf8(s.federationId),
    utf8(s.siteId),
    utf8(s.sessionToken),
    u64(s.sequence),
    utf8(s.reason),
  ]);
}

export function signStatement(message: Uint8Array, identity: Identity): Uint8Array {
  return signing.sign(message, identity.signing.secretKey);
}

/** Never throws: anything malformed is simply not a valid signature. */
export function verifyStatement(
  message: Uint8Array,
  signature: Uint8Array,
  signingPublicKey: Uint8Array,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== nacl.sign.signatureLength) return false;
  if (!(signingPublicKey instanceof Uint8Array) || signingPublicKey.length !== nacl.sign.publicKeyLength)
    return false;
  return signing.verify(message, signature, signingPublicKey);
}

/**
 * The key of one session: HMAC-SHA256 keyed with the site–coordinator X25519 key (`sharedKey`)
 * over the join's challenge. Only the two key holders can compute it, and it is new with every
 * join because the challenge is.
 */
export function deriveSessionKey(
  staticSharedKey: Uint8Array,
  federationId: string,
  siteId: string,
  challenge: Uint8Array,
): Uint8Array {
  return hmac(
    staticSharedKey,
    lengthPrefixed(SESSION_KEY_DOMAIN, [utf8(federationId), utf8(siteId), challenge]),
  );
}

/** The MAC of one call: method name (as in the proto service), its sequence number and its body. */
export function requestMac(
  sessionKey: Uint8Array,
  method: string,
  sequence: number,
  body: unknown,
): Uint8Array {
  return hmac(sessionKey, lengthPrefixed(REQUEST_DOMAIN, [utf8(method), u64(sequence), macBody(body)]));
}

/** The MAC of the coordinator's answer to the call with this sequence number. */
export function responseMac(
  sessionKey: Uint8Array,
  method: string,
  sequence: number,
  body: unknown,
): Uint8Array {
  return hmac(sessionKey, lengthPrefixed(RESPONSE_DOMAIN, [utf8(method), u64(sequence), macBody(body)]));
}

/** Constant time; false for any length but MAC_BYTES. */
export function macEquals(expected: Uint8Array, received: Uint8Array): boolean {
  return (
    received instanceof Uint8Array &&
    received.length === MAC_BYTES &&
    expected.length === MAC_BYTES &&
    timingSafeEqual(expected, received)
  );
}

/**
 * A call's body as canonical JSON. Metrics may hold NaN or ±Infinity, which JSON cannot; they
 * are written as the strings "NaN", "Infinity" and "-Infinity" so that the body of every call
 * has a MAC (what such values then mean is the coordinator's input check's business).
 */
export function macBody(body: unknown): Uint8Array {
  return canonicalJson(finiteOnly(body));
}

function finiteOnly(value: unknown): unknown {
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (Array.isArray(value)) return value.map(finiteOnly);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, finiteOnly(v)]));
  return value;
}

function hmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(message).digest());
}
