import { canonicalJson } from "../crypto/canonical-json.js";
import { toHex } from "../crypto/encoding.js";
import { ErrorCode } from "../errors.js";
import { SecAggError, SecAggReason } from "./errors.js";
import { checkBitBudget, type FixedPointCodec } from "./fixed-point.js";
import { defaultDegree, defaultThreshold } from "./graph.js";
import { fromHex } from "./hex.js";
import { hashFields } from "./mask-stream.js";

/**
 * Everything both sides must agree on for one attempt of one round. The coordinator fixes it
 * when it opens the round and sends it with the task; each client rebuilds the part it controls
 * (its codec, its minimum cohort) from its own config and compares, so a stage misconfigured on
 * one side fails with a config-mismatch error naming the field instead of a garbage sum.
 */
export interface SecAggParams extends FixedPointCodec {
  /** Unique per attempt: a round re-run after a coordinator restart gets a new one (fresh keys). */
  readonly session: string;
  readonly round: number;
  /** The clients selected for the round; a client's index + 1 is its Shamir x-coordinate. */
  readonly cohort: readonly string[];
  /** Neighbours per client in the SecAgg+ graph (n − 1: every pair, plain Bonawitz). */
  readonly degree: number;
  /** Shares needed to reconstruct a secret; a strict majority of a neighbourhood's degree + 1 holders. */
  readonly threshold: number;
  /** Fewest clients that may remain at any stage; below it the round aborts with nothing revealed. */
  readonly minSurvivors: number;
  /** Length of the update vector (the phase's shared tensors, flattened). */
  readonly vectorLength: number;
  /** 32 random bytes, hex, that lay out the neighbour graph. */
  readonly graphSeed: string;
}

/**
 * No sum of fewer clients is released: one client's "sum" is its update, and with two each can
 * subtract its own from the published model to get the other's.
 */
export const MIN_SURVIVORS_FLOOR = 3;

export interface SecAggParamsOptions extends FixedPointCodec {
  readonly session: string;
  readonly round: number;
  readonly cohort: readonly string[];
  readonly vectorLength: number;
  readonly graphSeed: string;
  readonly degree?: number;
  readonly threshold?: number;
  readonly minSurvivors?: number;
}

/** Parameters with the default degree and threshold filled in, validated. */
export function createSecAggParams(options: SecAggParamsOptions): SecAggParams {
  const degree = options.degree ?? defaultDegree(options.cohort.length);
  const threshold = options.threshold ?? defaultThreshold(degree);
  const params: SecAggParams = {
    session: options.session,
    round: options.round,
    cohort: [...options.cohort],
    degree,
    threshold,
    minSurvivors: options.minSurvivors ?? Math.max(MIN_SURVIVORS_FLOOR, threshold),
    clip: options.clip,
    fracBits: options.fracBits,
    vectorLength: options.vectorLength,
    graphSeed: options.graphSeed,
  };
  validateParams(params);
  return Object.freeze(params);
}

/** Throws a BadParams error (code InvalidConfig) saying what is wrong and what to change. */
export function validateParams(params: SecAggParams): void {
  const { cohort, degree, threshold, minSurvivors } = params;
  const n = cohort.length;
  if (typeof params.session !== "string" || params.session.length === 0 || params.session.length > 200) {
    throw bad("session must be a non-empty string of at most 200 characters");
  }
  if (!Number.isSafeInteger(params.round) || params.round < 0) {
    throw bad(`round must be a non-negative integer, got ${params.round}`);
  }
  if (new Set(cohort).size !== n || cohort.some((id) => typeof id !== "string" || id.length === 0)) {
    throw bad("cohort ids must be distinct non-empty strings");
  }
  if (n < MIN_SURVIVORS_FLOOR) {
    throw bad(
      `a cohort of ${n} is too small: secure aggregation needs at least ${MIN_SURVIVORS_FLOOR} clients`,
    );
  }
  if (!Number.isSafeInteger(degree) || degree < 2 || degree > n - 1 || (degree < n - 1 && degree % 2 !== 0)) {
    throw bad(`degree ${degree} must be n − 1 = ${n - 1} or an even number from 2 to ${n - 2}`);
  }
  const holders = degree + 1;
  if (!Number.isSafeInteger(threshold) || threshold <= holders / 2 || threshold > holders) {
    throw bad(
      `threshold ${threshold} must be a strict majority of the ${holders} holders of each secret ` +
        `(degree + 1): from ${Math.floor(holders / 2) + 1} to ${holders}`,
    );
  }
  if (!Number.isSafeInteger(minSurvivors) || minSurvivors < MIN_SURVIVORS_FLOOR || minSurvivors > n) {
    throw bad(`minSurvivors ${minSurvivors} must be from ${MIN_SURVIVORS_FLOOR} to the cohort size ${n}`);
  }
  if (minSurvivors < threshold) {
    throw bad(`minSurvivors ${minSurvivors} is below the threshold ${threshold}; raise it to ${threshold}`);
  }
  if (!Number.isSafeInteger(params.vectorLength) || params.vectorLength < 1) {
    throw bad(`vectorLength must be a positive integer, got ${params.vectorLength}`);
  }
  if (fromHex(params.graphSeed)?.length !== 32) throw bad("graphSeed must be 64 hex digits (32 bytes)");
  checkBitBudget(params, n);
}

/** The fields a client checks against its own expectation, in a stable order for messages. */
const FIELDS = [
  "session",
  "round",
  "cohort",
  "degree",
  "threshold",
  "minSurvivors",
  "clip",
  "fracBits",
  "vectorLength",
  "graphSeed",
] as const satisfies readonly (keyof SecAggParams)[];

/** Throws config-mismatch naming every field where `theirs` (from `who`) differs from `mine`. */
export function assertSameParams(mine: SecAggParams, theirs: SecAggParams, who: string): void {
  const differing = FIELDS.filter(
    (field) => JSON.stringify(mine[field]) !== JSON.stringify((theirs as Partial<SecAggParams>)[field]),
  );
  if (differing.length > 0) {
    const detail = differing
      .map((f) => `${f}: here ${JSON.stringify(mine[f])}, ${who} ${JSON.stringify(theirs[f])}`)
      .join("; ");
    throw new SecAggError(
      ErrorCode.InvalidConfig,
      SecAggReason.ConfigMismatch,
      `the secure-aggregation stage is configured differently on the two sides (${detail}); ` +
        "give both the same stage options",
    );
  }
}

/** Short digest of the parameters, carried by server messages so a client notices a swap. */
export function paramsDigest(params: SecAggParams): string {
  const plain = Object.fromEntries(FIELDS.map((f) => [f, params[f]]));
  return toHex(hashFields("fl.secagg.v1.params", [canonicalJson(plain)], 16));
}

function bad(message: string): SecAggError {
  return new SecAggError(ErrorCode.InvalidConfig, SecAggReason.BadParams, message);
}
