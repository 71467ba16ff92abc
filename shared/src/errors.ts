/**
 * One error type for the whole framework. `code` comes from a closed registry so that callers
 * (and the gRPC adapter, which maps codes to status codes in one place) can branch on it.
 */
export const ErrorCode = {
  /** A config file or option is missing, unreadable or fails validation. */
  InvalidConfig: "FL_INVALID_CONFIG",
  /** Input that crossed a boundary (wire, file) is malformed. */
  InvalidArgument: "FL_INVALID_ARGUMENT",
  /** A message or payload is larger than the configured limit. */
  TooLarge: "FL_TOO_LARGE",
  /** The site is not on the coordinator's allowlist, or its key was revoked. */
  UnknownSite: "FL_UNKNOWN_SITE",
  /** The session token is unknown or expired: the client must join again. */
  Unauthenticated: "FL_UNAUTHENTICATED",
  /** An Ed25519 signature does not verify. */
  SignatureInvalid: "FL_SIGNATURE_INVALID",
  /** A ciphertext chunk failed authentication (tampered or wrong key). */
  DecryptionFailed: "FL_DECRYPTION_FAILED",
  /** The content hash of a payload does not match the hash it was announced with. */
  HashMismatch: "FL_HASH_MISMATCH",
  /** An update was already received (same upload id, or second update from a site in a round). */
  Replay: "FL_REPLAY",
  /** An update names a round or model version that is not the open one. */
  WrongRound: "FL_WRONG_ROUND",
  /** Too many uploads from one site at once or in a short time; retry after the pause it names. */
  RateLimited: "FL_RATE_LIMITED",
  /** Tensor names, shapes or lengths differ from the global model's manifest. */
  WeightsShapeMismatch: "FL_WEIGHTS_SHAPE_MISMATCH",
  /** An update contains NaN or Infinity. */
  NonFinite: "FL_NON_FINITE",
  /** Not enough clients answered before the round deadline. */
  NotEnoughClients: "FL_NOT_ENOUGH_CLIENTS",
  /** A deadline passed. */
  Timeout: "FL_TIMEOUT",
  /** The requested thing (model version, task, file) does not exist. */
  NotFound: "FL_NOT_FOUND",
  /** The operation is valid but not now (e.g. the federation is finished). */
  FailedPrecondition: "FL_FAILED_PRECONDITION",
  /** A data file cannot be read or decoded. */
  DataError: "FL_DATA_ERROR",
  /** A feature is not supported (e.g. a DICOM transfer syntax without a codec). */
  Unsupported: "FL_UNSUPPORTED",
  /** A bug or an unexpected failure. */
  Internal: "FL_INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class FlError extends Error {
  override name = "FlError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  /** Normalises anything thrown into an FlError, keeping the original as `cause`. */
  static from(error: unknown, code: ErrorCode = ErrorCode.Internal): FlError {
    if (error instanceof FlError) return error;
    return new FlError(code, errorMessage(error), { cause: error });
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function isFlError(error: unknown, code?: ErrorCode): error is FlError {
  return error instanceof FlError && (code === undefined || error.code === code);
}
