import { toBase64 } from "../crypto/encoding.js";
import { ErrorCode, FlError } from "../errors.js";
import type {
  AdvertiseKeys,
  MaskedInput,
  ServerMessage,
  ShareKeys,
  UnmaskResponse,
} from "../secagg/messages.js";
import type { SecAggParams } from "../secagg/params.js";

/**
 * Secure aggregation over the federation's session calls (the SecAggExchange RPC), in domain
 * types. A client sends its message of one stage and long-polls for the coordinator's next one;
 * its masked input travels as the task's sealed update instead (see encodeMaskedPayload). No
 * message names its own sender, session or round on the wire: the coordinator fills in the
 * session's site and the request's session and round, so a site can speak only for itself.
 */

/** What a client waits for next. */
export type SecAggAwaiting = "setup" | "neighbour-keys" | "relayed-shares" | "unmask-request";
export const SECAGG_AWAITING: readonly SecAggAwaiting[] = [
  "setup",
  "neighbour-keys",
  "relayed-shares",
  "unmask-request",
];

type Unenveloped<M> = M extends unknown ? Omit<M, "session" | "round" | "from"> : never;

/** A client's stage message without what the transport supplies (sender, session, round). */
export type SecAggUpstream = Unenveloped<AdvertiseKeys | ShareKeys | UnmaskResponse>;
/** A coordinator's stage message without its session and round (the client's request names them). */
export type SecAggDownstream = Unenveloped<ServerMessage>;

export interface SecAggRequest {
  /** The training task the round is for: its round and task must be the site's open ones. */
  readonly taskId: string;
  readonly round: number;
  /** This attempt's secure-aggregation session; "" before the client has its setup. */
  readonly session: string;
  readonly awaiting: SecAggAwaiting;
  readonly message?: SecAggUpstream;
  readonly waitMs: number;
}

export type SecAggAnswer =
  /** The attempt's parameters, and the divisor that turns an example count into a weight ≤ 1. */
  | { readonly kind: "setup"; readonly params: SecAggParams; readonly weightScale: number }
  | { readonly kind: "message"; readonly message: SecAggDownstream }
  /** Nothing yet: ask again. */
  | { readonly kind: "wait" }
  /** The site takes no further part (the round aborted, or the site was left out). */
  | { readonly kind: "ended"; readonly reason: string };

export type SignedSecAggAnswer = SecAggAnswer & {
  /** `responseMac` under the session key over the answer, for the request's sequence number. */
  readonly mac: Uint8Array;
};

/** A client message with the envelope the transport vouches for. */
export function envelop(
  message: SecAggUpstream,
  envelope: { readonly session: string; readonly round: number; readonly from: string },
): AdvertiseKeys | ShareKeys | UnmaskResponse {
  return { ...message, ...envelope } as AdvertiseKeys | ShareKeys | UnmaskResponse;
}

/**
 * The MAC body of a value: byte arrays as base64, keys with undefined values left out. Both
 * sides build their domain values field by field from the wire, so the two bodies agree.
 */
export function macValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return toBase64(value);
  if (Array.isArray(value)) return value.map(macValue);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, macValue(v)]),
    );
  return value;
}

export function secAggRequestBody(request: SecAggRequest): unknown {
  return macValue({
    taskId: request.taskId,
    round: request.round,
    session: request.session,
    awaiting: request.awaiting,
    waitMs: request.waitMs,
    message: request.message,
  });
}

export function secAggAnswerBody(answer: SecAggAnswer): unknown {
  switch (answer.kind) {
    case "setup":
      return macValue({ kind: answer.kind, params: answer.params, weightScale: answer.weightScale });
    case "message":
      return macValue({ kind: answer.kind, message: answer.message });
    case "wait":
      return { kind: answer.kind };
    case "ended":
      return { kind: answer.kind, reason: answer.reason };
  }
}

/**
 * The masked input as the sealed update's plaintext: "FLSA", a little-endian u32 header length,
 * a JSON header (session, round, complaints, length), then `length` little-endian u32 values.
 * A format of its own rather than FLW1 weights: the values are ring elements, not floats (as
 * float32 bits many would be NaN), and the header carries the protocol's complaints.
 */
const MAGIC = [0x46, 0x4c, 0x53, 0x41];
const PREFIX_BYTES = 8;

export interface MaskedPayload {
  readonly session: string;
  readonly round: number;
  readonly complaints: readonly string[];
  readonly masked: Uint32Array;
}

export function encodeMaskedPayload(
  input: Pick<MaskedInput, "session" | "round" | "complaints" | "masked">,
): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({
      session: input.session,
      round: input.round,
      complaints: input.complaints,
      length: input.masked.length,
    }),
  );
  const out = new Uint8Array(PREFIX_BYTES + header.length + input.masked.length * 4);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, header.length, true);
  out.set(header, PREFIX_BYTES);
  const base = PREFIX_BYTES + header.length;
  for (let i = 0; i < input.masked.length; i++) view.setUint32(base + 4 * i, input.masked[i] as number, true);
  return out;
}

/** The plaintext length of a masked payload of `length` values, for the upload's size check. */
export function maskedPayloadBounds(length: number): { readonly min: number; readonly max: number } {
  const values = length * 4;
  // The header is JSON of a session id (≤ 200 chars), a round and the complaints (≤ cohort ids).
  return { min: PREFIX_BYTES + values, max: PREFIX_BYTES + values + 64 * 1024 };
}

/** Parses a masked payload; FlError(InvalidArgument) naming what is wrong. */
export function decodeMaskedPayload(bytes: Uint8Array, expectedLength: number): MaskedPayload {
  const bad = (why: string) =>
    new FlError(ErrorCode.InvalidArgument, `the masked secure-aggregation update is malformed: ${why}`);
  if (bytes.length < PREFIX_BYTES || MAGIC.some((b, i) => bytes[i] !== b))
    throw bad("it does not start with FLSA (a plain update sent to a secure-aggregation round?)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (PREFIX_BYTES + headerLength > bytes.length) throw bad("the header runs past the end");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength)));
  } catch {
    throw bad("the header is not JSON");
  }
  const h = header as Partial<Record<"session" | "round" | "complaints" | "length", unknown>>;
  if (
    typeof h.session !== "string" ||
    !Number.isSafeInteger(h.round) ||
    !Array.isArray(h.complaints) ||
    h.complaints.some((c) => typeof c !== "string") ||
    h.length !== expectedLength
  )
    throw bad(`the header must name session, round, complaints and length ${expectedLength}`);
  const base = PREFIX_BYTES + headerLength;
  if (bytes.length !== base + expectedLength * 4)
    throw bad(`${bytes.length - base} value bytes for ${expectedLength} values`);
  const masked = new Uint32Array(expectedLength);
  for (let i = 0; i < expectedLength; i++) masked[i] = view.getUint32(base + 4 * i, true);
  return { session: h.session, round: h.round as number, complaints: h.complaints as string[], masked };
}
