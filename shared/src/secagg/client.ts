import nacl from "tweetnacl";
import { drawRandom, type RandomSource, secureRandom } from "../crypto/encoding.js";
import { ErrorCode } from "../errors.js";
import { SecAggError, SecAggReason } from "./errors.js";
import { encodeFixedPoint } from "./fixed-point.js";
import { neighbourGraph } from "./graph.js";
import { fromHex } from "./hex.js";
import { applyMask, pairwiseSeed, selfMaskCommitment } from "./mask-stream.js";
import type {
  AdvertiseKeys,
  ClientMessage,
  MaskedInput,
  NeighbourKeys,
  RelayedShares,
  ServerMessage,
  ShareKeys,
  UnmaskRequest,
  UnmaskResponse,
} from "./messages.js";
import { paramsDigest, type SecAggParams, validateParams } from "./params.js";
import { openSharePair, type SharePair, sealSharePair } from "./sealed-share.js";
import { type Share, shareToBytes, splitSecret } from "./shamir.js";

/**
 * What a client waits for: advertise() first, then each server message in turn. "aborted"
 * follows any refusal of a message that was this round's and this stage's: a server that asked
 * for the wrong thing gets nothing more from this client.
 */
export type ClientStage = "advertise" | ServerMessage["type"] | "done" | "aborted";

export interface SecAggClientOptions {
  readonly id: string;
  /** The parameters this client expects, from the task and its own config; checked, not trusted. */
  readonly params: SecAggParams;
  /** The update, laid out like the phase's shared tensors (params.vectorLength values). */
  readonly input: Float32Array;
  /** Secure randomness (keys, seeds, polynomials, nonces); injectable for reproducible tests. */
  readonly random?: RandomSource;
}

export interface SecAggClient {
  readonly id: string;
  readonly stage: ClientStage;
  /** Stage 0: fresh keys for this round. */
  advertise(): AdvertiseKeys;
  /** The reply to a server message; throws SecAggError to refuse it. */
  receive(message: ServerMessage): ClientMessage;
}

const ORDER: readonly ClientStage[] = [
  "advertise",
  "neighbour-keys",
  "relayed-shares",
  "unmask-request",
  "done",
];

interface NeighbourState {
  readonly index: number;
  readonly encryptionKey: Uint8Array;
  readonly maskKey: Uint8Array;
}

/** One client's side of one secure-aggregation round (Bonawitz et al. 2017 with SecAgg+ neighbours). */
export function createSecAggClient(options: SecAggClientOptions): SecAggClient {
  const { id, params } = options;
  const random = options.random ?? secureRandom;
  validateParams(params);
  const me = params.cohort.indexOf(id);
  if (me < 0) {
    throw new SecAggError(
      ErrorCode.InvalidArgument,
      SecAggReason.UnknownSender,
      `${id} is not in the cohort`,
    );
  }
  if (options.input.length !== params.vectorLength) {
    throw new SecAggError(
      ErrorCode.WeightsShapeMismatch,
      SecAggReason.Malformed,
      `the update has ${options.input.length} values, the stage expects ${params.vectorLength}`,
    );
  }
  const graph = neighbourGraph({
    cohortSize: params.cohort.length,
    degree: params.degree,
    seed: fromHex(params.graphSeed) as Uint8Array,
    session: params.session,
  });
  const myNeighbours = new Set(graph[me]);
  const digest = paramsDigest(params);
  const encryption = nacl.box.keyPair.fromSecretKey(drawRandom(random, nacl.box.secretKeyLength));
  const masking = nacl.box.keyPair.fromSecretKey(drawRandom(random, nacl.box.secretKeyLength));

  let stage: ClientStage = "advertise";
  let input: Float32Array | undefined = options.input;
  let selfMaskSeed: Uint8Array | undefined;
  let ownShares: SharePair | undefined;
  const neighbours = new Map<string, NeighbourState>();
  /** Dealers whose shares this client holds (those the server relayed), and the shares. */
  const held = new Map<string, SharePair | undefined>();

  /** The error for a refused message; the client takes no further part in the round. */
  const refuse = (code: ErrorCode, reason: SecAggReason, message: string): SecAggError => {
    stage = "aborted";
    return new SecAggError(code, reason, `client ${id}: ${message}`);
  };

  function checkEnvelope(message: ServerMessage): void {
    if (message.session !== params.session || message.round !== params.round) {
      throw new SecAggError(
        ErrorCode.WrongRound,
        SecAggReason.WrongRound,
        `client ${id} is in round ${params.round} (${params.session}); the message is for round ` +
          `${message.round} (${message.session})`,
      );
    }
    if (stage === message.type) return;
    if (stage === "aborted") {
      throw new SecAggError(
        ErrorCode.FailedPrecondition,
        SecAggReason.WrongStage,
        `client ${id} has aborted`,
      );
    }
    const late = ORDER.indexOf(stage) > ORDER.indexOf(message.type);
    throw late
      ? new SecAggError(
          ErrorCode.Replay,
          SecAggReason.Replay,
          `client ${id} already answered ${message.type}`,
        )
      : new SecAggError(
          ErrorCode.FailedPrecondition,
          SecAggReason.WrongStage,
          `client ${id} is at stage ${stage} and cannot take ${message.type} yet`,
        );
  }

  function onNeighbourKeys(message: NeighbourKeys): ShareKeys {
    if (message.paramsDigest !== digest) {
      throw refuse(
        ErrorCode.InvalidConfig,
        SecAggReason.ConfigMismatch,
        "the coordinator's parameters differ from the ones this client advertised",
      );
    }
    for (const entry of message.neighbours) {
      const index = params.cohort.indexOf(entry.id);
      if (!myNeighbours.has(index) || neighbours.has(entry.id)) {
        throw refuse(
          ErrorCode.InvalidArgument,
          SecAggReason.Malformed,
          `${entry.id} is not a neighbour, or is listed twice`,
        );
      }
      if (!isKey(entry.encryptionKey) || !isKey(entry.maskKey)) {
        throw refuse(
          ErrorCode.InvalidArgument,
          SecAggReason.Malformed,
          `the keys of ${entry.id} are not 32 bytes each`,
        );
      }
      neighbours.set(entry.id, { index, encryptionKey: entry.encryptionKey, maskKey: entry.maskKey });
    }
    if (neighbours.size + 1 < params.threshold) {
      throw refuse(
        ErrorCode.NotEnoughClients,
        SecAggReason.BelowThreshold,
        `only ${neighbours.size} neighbours advertised keys; sharing needs ${params.threshold - 1}`,
      );
    }
    selfMaskSeed = drawRandom(random, 32);
    const holders = [me, ...[...neighbours.values()].map((n) => n.index)];
    const xs = holders.map((index) => index + 1);
    const split = { threshold: params.threshold, xs, random };
    const selfShares = splitSecret(selfMaskSeed, split);
    const keyShares = splitSecret(masking.secretKey, split);
    const pairAt = (i: number): SharePair => ({
      selfMask: (selfShares[i] as Share).y,
      maskKey: (keyShares[i] as Share).y,
    });
    ownShares = pairAt(0);
    const shares = [...neighbours.entries()].map(([holder, state], i) => ({
      to: holder,
      ...sealSharePair(
        pairAt(i + 1),
        { session: params.session, round: params.round, dealer: id, holder },
        { dealerSecretKey: encryption.secretKey, holderPublicKey: state.encryptionKey, random },
      ),
    }));
    stage = "relayed-shares";
    return {
      type: "share-keys",
      session: params.session,
      round: params.round,
      from: id,
      selfMaskCommitment: selfMaskCommitment({
        seed: selfMaskSeed,
        session: params.session,
        round: params.round,
        dealer: id,
      }),
      shares,
    };
  }

  function onRelayedShares(message: RelayedShares): MaskedInput {
    const complaints: string[] = [];
    for (const sealed of message.shares) {
      const dealer = neighbours.get(sealed.from);
      if (dealer === undefined || held.has(sealed.from)) {
        throw refuse(
          ErrorCode.InvalidArgument,
          SecAggReason.Malformed,
          `relayed shares from ${sealed.from}, which is not a neighbour with keys, or twice`,
        );
      }
      const pair = openSharePair(
        sealed,
        { session: params.session, round: params.round, dealer: sealed.from, holder: id },
        { holderSecretKey: encryption.secretKey, dealerPublicKey: (dealer as NeighbourState).encryptionKey },
      );
      // A bad share from one dealer is that dealer's problem, not this round's: it still masks
      // with us, so we mask with it, and we tell the server we hold nothing of its secrets.
      if (pair === undefined) complaints.push(sealed.from);
      held.set(sealed.from, pair);
    }
    if (held.size + 1 < params.threshold) {
      throw refuse(
        ErrorCode.NotEnoughClients,
        SecAggReason.BelowThreshold,
        `only ${held.size} neighbours shared keys; this client's secrets need ${params.threshold} holders`,
      );
    }
    const masked = encodeFixedPoint(input as Float32Array, params);
    input = undefined;
    applyMask(masked, selfMaskSeed as Uint8Array, 1);
    for (const dealer of held.keys()) {
      const other = neighbours.get(dealer) as NeighbourState;
      const seed = pairwiseSeed({
        mySecretKey: masking.secretKey,
        theirPublicKey: other.maskKey,
        session: params.session,
        round: params.round,
        ids: [id, dealer],
      });
      // The lower cohort index adds the pair's mask and the higher subtracts it: they cancel.
      applyMask(masked, seed, me < other.index ? 1 : -1);
    }
    stage = "unmask-request";
    return {
      type: "masked-input",
      session: params.session,
      round: params.round,
      from: id,
      masked,
      complaints,
    };
  }

  function onUnmaskRequest(message: UnmaskRequest): UnmaskResponse {
    const survivors = new Set(message.survivors);
    if (
      survivors.size !== message.survivors.length ||
      message.survivors.some((s) => !params.cohort.includes(s))
    ) {
      throw refuse(
        ErrorCode.InvalidArgument,
        SecAggReason.Malformed,
        "the survivors list has duplicates or strangers",
      );
    }
    if (survivors.size < params.minSurvivors) {
      throw refuse(
        ErrorCode.NotEnoughClients,
        SecAggReason.BelowThreshold,
        `the server lists ${survivors.size} survivors, fewer than the minimum ${params.minSurvivors}: refusing to unmask`,
      );
    }
    if (!survivors.has(id)) {
      throw refuse(
        ErrorCode.FailedPrecondition,
        SecAggReason.RequestInconsistent,
        "the server counts this client as dropped although its masked input was sent",
      );
    }
    const asked = new Map<string, UnmaskRequest["requests"][number]["secret"]>();
    for (const { dealer, secret } of message.requests) {
      const previous = asked.get(dealer);
      if (previous !== undefined && previous !== secret) {
        throw refuse(
          ErrorCode.FailedPrecondition,
          SecAggReason.BothSecretsRequested,
          `the server asks for both the self-mask seed and the mask key of ${dealer}; that would reveal its update`,
        );
      }
      if (previous !== undefined || (dealer !== id && !held.has(dealer))) {
        throw refuse(
          ErrorCode.InvalidArgument,
          SecAggReason.Malformed,
          `a share of ${dealer} is asked twice or not held`,
        );
      }
      if (dealer === id && secret === "mask-key") {
        throw refuse(
          ErrorCode.FailedPrecondition,
          SecAggReason.BothSecretsRequested,
          "the server asks for this client's own mask key while its masked input is in the sum",
        );
      }
      if ((secret === "self-mask") !== survivors.has(dealer)) {
        throw refuse(
          ErrorCode.FailedPrecondition,
          SecAggReason.RequestInconsistent,
          `the server asks for the ${secret} share of ${dealer}, which it lists as ` +
            `${survivors.has(dealer) ? "a survivor" : "dropped"}`,
        );
      }
      asked.set(dealer, secret);
    }
    const shares = [];
    for (const [dealer, secret] of asked) {
      const pair = dealer === id ? ownShares : held.get(dealer);
      if (pair === undefined) continue;
      shares.push({ dealer, secret, y: shareToBytes(secret === "self-mask" ? pair.selfMask : pair.maskKey) });
    }
    stage = "done";
    return { type: "unmask-response", session: params.session, round: params.round, from: id, shares };
  }

  return {
    id,
    get stage() {
      return stage;
    },
    advertise(): AdvertiseKeys {
      if (stage !== "advertise") {
        throw new SecAggError(
          ErrorCode.Replay,
          SecAggReason.Replay,
          `client ${id} already advertised its keys`,
        );
      }
      stage = "neighbour-keys";
      return advertiseMessage();
    },
    receive(message: ServerMessage): ClientMessage {
      checkEnvelope(message);
      switch (message.type) {
        case "neighbour-keys":
          return onNeighbourKeys(message);
        case "relayed-shares":
          return onRelayedShares(message);
        case "unmask-request":
          return onUnmaskRequest(message);
      }
    },
  };

  function advertiseMessage(): AdvertiseKeys {
    return {
      type: "advertise-keys",
      session: params.session,
      round: params.round,
      from: id,
      params,
      encryptionKey: encryption.publicKey,
      maskKey: masking.publicKey,
    };
  }
}

function isKey(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === 32;
}
