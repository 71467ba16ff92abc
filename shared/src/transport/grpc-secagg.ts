import type * as wire from "../../../proto/gen/fl/v1/federation.js";
import { ErrorCode, FlError } from "../errors.js";
import type { RequestAuth } from "../fl/messages.js";
import {
  SECAGG_AWAITING,
  type SecAggAwaiting,
  type SecAggDownstream,
  type SecAggRequest,
  type SecAggUpstream,
  type SignedSecAggAnswer,
} from "../fl/secagg-exchange.js";
import type { SecretKind } from "../secagg/messages.js";
import type { SecAggParams } from "../secagg/params.js";

/**
 * The SecAggExchange call to and from its protobuf form, for both ends of the wire. Byte fields
 * are copied out of grpc-js's Buffers; what a field cannot be (an unknown stage or secret kind)
 * is refused here, and everything else is left to the protocol's own checks.
 */

const bytes = (value: Uint8Array): Buffer => Buffer.from(value);
const copy = (value: Uint8Array | undefined): Uint8Array => new Uint8Array(value ?? []);

function malformed(what: string): FlError {
  return new FlError(ErrorCode.InvalidArgument, `SecAggExchange: ${what}`);
}

export function paramsToWire(params: SecAggParams): wire.SecAggParams {
  return {
    session: params.session,
    round: params.round,
    cohort: [...params.cohort],
    degree: params.degree,
    threshold: params.threshold,
    minSurvivors: params.minSurvivors,
    clip: params.clip,
    fracBits: params.fracBits,
    vectorLength: params.vectorLength,
    graphSeed: params.graphSeed,
  };
}

export function paramsFromWire(params: wire.SecAggParams | undefined): SecAggParams {
  if (!params) throw malformed("the parameters are missing");
  return {
    session: params.session,
    round: params.round,
    cohort: [...params.cohort],
    degree: params.degree,
    threshold: params.threshold,
    minSurvivors: params.minSurvivors,
    clip: params.clip,
    fracBits: params.fracBits,
    vectorLength: params.vectorLength,
    graphSeed: params.graphSeed,
  };
}

function secretFromWire(secret: string): SecretKind {
  if (secret !== "self-mask" && secret !== "mask-key") throw malformed(`unknown secret kind "${secret}"`);
  return secret;
}

function upstreamToWire(message: SecAggUpstream | undefined): wire.SecAggRequest["message"] {
  if (!message) return undefined;
  switch (message.type) {
    case "advertise-keys":
      return {
        $case: "advertiseKeys",
        value: {
          params: paramsToWire(message.params),
          encryptionKey: bytes(message.encryptionKey),
          maskKey: bytes(message.maskKey),
        },
      };
    case "share-keys":
      return {
        $case: "shareKeys",
        value: {
          selfMaskCommitment: bytes(message.selfMaskCommitment),
          shares: message.shares.map((s) => ({
            peer: s.to,
            nonce: bytes(s.nonce),
            ciphertext: bytes(s.ciphertext),
          })),
        },
      };
    case "unmask-response":
      return {
        $case: "unmaskResponse",
        value: {
          shares: message.shares.map((s) => ({ dealer: s.dealer, secret: s.secret, y: bytes(s.y) })),
        },
      };
  }
}

function upstreamFromWire(message: wire.SecAggRequest["message"]): SecAggUpstream | undefined {
  switch (message?.$case) {
    case undefined:
      return undefined;
    case "advertiseKeys":
      return {
        type: "advertise-keys",
        params: paramsFromWire(message.value.params),
        encryptionKey: copy(message.value.encryptionKey),
        maskKey: copy(message.value.maskKey),
      };
    case "shareKeys":
      return {
        type: "share-keys",
        selfMaskCommitment: copy(message.value.selfMaskCommitment),
        shares: message.value.shares.map((s) => ({
          to: s.peer,
          nonce: copy(s.nonce),
          ciphertext: copy(s.ciphertext),
        })),
      };
    case "unmaskResponse":
      return {
        type: "unmask-response",
        shares: message.value.shares.map((s) => ({
          dealer: s.dealer,
          secret: secretFromWire(s.secret),
          y: copy(s.y),
        })),
      };
  }
}

export function secAggRequestToWire(auth: RequestAuth, request: SecAggRequest): wire.SecAggRequest {
  return {
    sessionToken: auth.sessionToken,
    taskId: request.taskId,
    round: request.round,
    secaggSession: request.session,
    awaiting: request.awaiting,
    message: upstreamToWire(request.message),
    waitMs: request.waitMs,
    sequence: auth.sequence,
    mac: bytes(auth.mac),
  };
}

export function secAggRequestFromWire(request: wire.SecAggRequest): SecAggRequest {
  if (!SECAGG_AWAITING.includes(request.awaiting as SecAggAwaiting))
    throw malformed(`"awaiting" must be one of ${SECAGG_AWAITING.join(", ")}, got "${request.awaiting}"`);
  const message = upstreamFromWire(request.message);
  return {
    taskId: request.taskId,
    round: request.round,
    session: request.secaggSession,
    awaiting: request.awaiting as SecAggAwaiting,
    ...(message && { message }),
    waitMs: request.waitMs,
  };
}

function downstreamToWire(message: SecAggDownstream): wire.SecAggResponse["result"] {
  switch (message.type) {
    case "neighbour-keys":
      return {
        $case: "neighbourKeys",
        value: {
          paramsDigest: message.paramsDigest,
          neighbours: message.neighbours.map((n) => ({
            id: n.id,
            encryptionKey: bytes(n.encryptionKey),
            maskKey: bytes(n.maskKey),
          })),
        },
      };
    case "relayed-shares":
      return {
        $case: "relayedShares",
        value: {
          shares: message.shares.map((s) => ({
            peer: s.from,
            nonce: bytes(s.nonce),
            ciphertext: bytes(s.ciphertext),
          })),
        },
      };
    case "unmask-request":
      return {
        $case: "unmaskRequest",
        value: {
          survivors: [...message.survivors],
          requests: message.requests.map((r) => ({ dealer: r.dealer, secret: r.secret })),
        },
      };
  }
}

export function secAggAnswerToWire(answer: SignedSecAggAnswer): wire.SecAggResponse {
  const mac = bytes(answer.mac);
  switch (answer.kind) {
    case "setup":
      return {
        result: {
          $case: "setup",
          value: { params: paramsToWire(answer.params), weightScale: answer.weightScale },
        },
        mac,
      };
    case "message":
      return { result: downstreamToWire(answer.message), mac };
    case "wait":
      return { result: { $case: "wait", value: { retryAfterMs: 0, reason: "" } }, mac };
    case "ended":
      return { result: { $case: "ended", value: { reason: answer.reason } }, mac };
  }
}

export function secAggAnswerFromWire(response: wire.SecAggResponse): SignedSecAggAnswer {
  const mac = copy(response.mac);
  const result = response.result;
  switch (result?.$case) {
    case "setup":
      return {
        kind: "setup",
        params: paramsFromWire(result.value.params),
        weightScale: result.value.weightScale,
        mac,
      };
    case "neighbourKeys":
      return {
        kind: "message",
        message: {
          type: "neighbour-keys",
          paramsDigest: result.value.paramsDigest,
          neighbours: result.value.neighbours.map((n) => ({
            id: n.id,
            encryptionKey: copy(n.encryptionKey),
            maskKey: copy(n.maskKey),
          })),
        },
        mac,
      };
    case "relayedShares":
      return {
        kind: "message",
        message: {
          type: "relayed-shares",
          shares: result.value.shares.map((s) => ({
            from: s.peer,
            nonce: copy(s.nonce),
            ciphertext: copy(s.ciphertext),
          })),
        },
        mac,
      };
    case "unmaskRequest":
      return {
        kind: "message",
        message: {
          type: "unmask-request",
          survivors: [...result.value.survivors],
          requests: result.value.requests.map((r) => ({
            dealer: r.dealer,
            secret: secretFromWire(r.secret),
          })),
        },
        mac,
      };
    case "wait":
      return { kind: "wait", mac };
    case "ended":
      return { kind: "ended", reason: result.value.reason, mac };
    case undefined:
      throw malformed("the coordinator's answer has no result");
  }
}
