import { ErrorCode, FlError } from "../errors.js";
import type { FlEventType } from "./types.js";

/** Subject prefix used when none is configured: events go to `fl.<federationId>.<type>`. */
export const DEFAULT_SUBJECT_PREFIX = "fl";

// NATS tokens are separated by "." and may not contain whitespace or the wildcards "*" and ">".
const INVALID_TOKEN_CHARS = /[\s.*>]/;

/** Why `token` cannot be a single NATS subject token, or undefined when it can. */
export function subjectTokenProblem(token: string): string | undefined {
  if (token.length === 0) return "is empty";
  if (INVALID_TOKEN_CHARS.test(token)) return "contains '.', '*', '>' or whitespace";
  return undefined;
}

/** Why `prefix` cannot prefix event subjects (one or more dot-separated tokens), or undefined. */
export function subjectPrefixProblem(prefix: string): string | undefined {
  if (prefix.length === 0) return "is empty";
  for (const token of prefix.split(".")) {
    const problem = subjectTokenProblem(token);
    if (problem !== undefined) return `has a token that ${problem}`;
  }
  return undefined;
}

function assertSubjectParts(prefix: string, federationId: string): void {
  const prefixProblem = subjectPrefixProblem(prefix);
  if (prefixProblem !== undefined) {
    throw new FlError(ErrorCode.InvalidArgument, `event subject prefix "${prefix}" ${prefixProblem}`);
  }
  const idProblem = subjectTokenProblem(federationId);
  if (idProblem !== undefined) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `federation id "${federationId}" ${idProblem}; it must be one NATS subject token (letters, digits, '-', '_')`,
    );
  }
}

/** The subject an event of `type` is published on: `${prefix}.${federationId}.${type}`. */
export function eventSubject(prefix: string, federationId: string, type: FlEventType): string {
  assertSubjectParts(prefix, federationId);
  return `${prefix}.${federationId}.${type}`;
}

/** The wildcard subject matching every event of one federation: `${prefix}.${federationId}.>`. */
export function federationSubjects(prefix: string, federationId: string): string {
  assertSubjectParts(prefix, federationId);
  return `${prefix}.${federationId}.>`;
}

/**
 * True when the subject filter `pattern` (which may use `*` for one token and a trailing `>` for
 * one or more tokens) matches every subject `filter` matches. Used to decide whether an existing
 * JetStream stream already captures this federation's events.
 */
export function subjectCovers(pattern: string, filter: string): boolean {
  const p = pattern.split(".");
  const f = filter.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === ">") return i === p.length - 1 && f.length > i;
    const other = f[i];
    if (other === undefined) return false;
    if (token === "*") {
      if (other === ">") return false;
      continue;
    }
    if (token !== other) return false;
  }
  return p.length === f.length;
}
