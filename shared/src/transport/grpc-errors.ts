import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ErrorCode, errorMessage, FlError } from "../errors.js";
import { MAX_ERROR_MESSAGE_CHARS, sanitiseText } from "../fl/limits.js";

/** The one mapping from domain error codes to gRPC status codes, used by both sides. */
const STATUS_OF: Record<ErrorCode, status> = {
  [ErrorCode.InvalidConfig]: status.FAILED_PRECONDITION,
  [ErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [ErrorCode.TooLarge]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.UnknownSite]: status.PERMISSION_DENIED,
  [ErrorCode.Unauthenticated]: status.UNAUTHENTICATED,
  [ErrorCode.SignatureInvalid]: status.UNAUTHENTICATED,
  [ErrorCode.DecryptionFailed]: status.INVALID_ARGUMENT,
  [ErrorCode.HashMismatch]: status.DATA_LOSS,
  [ErrorCode.Replay]: status.ALREADY_EXISTS,
  [ErrorCode.WrongRound]: status.FAILED_PRECONDITION,
  [ErrorCode.RateLimited]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.WeightsShapeMismatch]: status.INVALID_ARGUMENT,
  [ErrorCode.NonFinite]: status.INVALID_ARGUMENT,
  [ErrorCode.NotEnoughClients]: status.UNAVAILABLE,
  [ErrorCode.Timeout]: status.DEADLINE_EXCEEDED,
  [ErrorCode.NotFound]: status.NOT_FOUND,
  [ErrorCode.FailedPrecondition]: status.FAILED_PRECONDITION,
  [ErrorCode.DataError]: status.INVALID_ARGUMENT,
  [ErrorCode.Unsupported]: status.UNIMPLEMENTED,
  [ErrorCode.Internal]: status.INTERNAL,
};

const CODE_KEY = "fl-error-code";

export function grpcStatusOf(code: ErrorCode): status {
  return STATUS_OF[code];
}

/**
 * An error to hand to a grpc-js callback. Internal errors (and anything thrown that is not an
 * FlError) say nothing of their cause on the wire. The message travels in a trailer, which
 * clients refuse beyond a size limit (breaking the connection for every call on it), so it is
 * bounded and kept on one line whatever the error quotes.
 */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const flError = FlError.from(error);
  const metadata = new Metadata();
  metadata.set(CODE_KEY, flError.code);
  const details =
    flError.code === ErrorCode.Internal
      ? "internal error (see the coordinator's log)"
      : sanitiseText(flError.message, MAX_ERROR_MESSAGE_CHARS);
  return { code: STATUS_OF[flError.code], details, metadata };
}

/** Turns a grpc-js error back into an FlError; transport failures keep their gRPC status in the message. */
export function fromServiceError(error: unknown): FlError {
  if (error instanceof FlError) return error;
  const service = error as Partial<ServiceError>;
  const code = service.metadata?.get(CODE_KEY)?.[0];
  if (typeof code === "string" && (Object.values(ErrorCode) as string[]).includes(code)) {
    return new FlError(code as ErrorCode, service.details ?? errorMessage(error), { cause: error });
  }
  if (service.code === status.UNAVAILABLE || service.code === status.DEADLINE_EXCEEDED) {
    return new FlError(
      ErrorCode.Timeout,
      `coordinator unreachable: ${service.details ?? errorMessage(error)}`,
      { cause: error },
    );
  }
  return new FlError(ErrorCode.Internal, service.details ?? errorMessage(error), { cause: error });
}

/** True for errors worth retrying after a pause (coordinator down or restarting). */
export function isTransient(error: unknown): boolean {
  const service = error as Partial<ServiceError>;
  return (
    service.code === status.UNAVAILABLE ||
    service.code === status.DEADLINE_EXCEEDED ||
    service.code === status.CANCELLED
  );
}
