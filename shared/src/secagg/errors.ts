import { type ErrorCode, FlError } from "../errors.js";

/**
 * Why a secure-aggregation step was refused or a round aborted. A closed list so that the
 * coordinator can record the reason and tests can assert the exact fault, while the error's
 * `code` stays one of the framework's ErrorCodes (the gRPC adapter maps those).
 */
export const SecAggReason = {
  /** The two sides run the stage with different parameters (one is misconfigured). */
  ConfigMismatch: "config-mismatch",
  /** Parameters that cannot work: threshold above the neighbourhood, overflowing bit budget, … */
  BadParams: "bad-params",
  /** A message for another round or another attempt of this one. */
  WrongRound: "wrong-round",
  /** A message that arrived a second time. */
  Replay: "replay",
  /** A message that is not expected at this stage (too late, too early, or after an abort). */
  WrongStage: "wrong-stage",
  /** A sender that is not in the cohort, or was left out of the round at an earlier stage. */
  UnknownSender: "unknown-sender",
  /** A message whose fields have the wrong form (lengths, ids, missing entries). */
  Malformed: "malformed",
  /** An encrypted share that does not open, or opens to another dealer, holder or round. */
  BadShare: "bad-share",
  /** A request that would reveal both the self-mask seed and the mask key of one client. */
  BothSecretsRequested: "both-secrets-requested",
  /** A request that asks for a secret not matching the survivors it lists. */
  RequestInconsistent: "request-inconsistent",
  /** Fewer clients or shares than the threshold or the minimum cohort: nothing is revealed. */
  BelowThreshold: "below-threshold",
  /** No t shares of a secret reconstruct a value that matches its commitment or public key. */
  InconsistentShares: "inconsistent-shares",
} as const;
export type SecAggReason = (typeof SecAggReason)[keyof typeof SecAggReason];

/** A refused secure-aggregation message or an aborted round, with the protocol's reason. */
export class SecAggError extends FlError {
  override name = "SecAggError";
  readonly reason: SecAggReason;

  constructor(code: ErrorCode, reason: SecAggReason, message: string, options?: ErrorOptions) {
    super(code, `secure aggregation (${reason}): ${message}`, options);
    this.reason = reason;
  }
}

export function isSecAggError(error: unknown, reason?: SecAggReason): error is SecAggError {
  return error instanceof SecAggError && (reason === undefined || error.reason === reason);
}
