import { bytesEqual } from "../crypto/encoding.js";
import { x25519 } from "../crypto/primitives.js";
import { ErrorCode } from "../errors.js";
import { SecAggError, SecAggReason } from "./errors.js";
import { neighbourGraph } from "./graph.js";
import { fromHex } from "./hex.js";
import { applyMask, pairwiseSeed, selfMaskCommitment } from "./mask-stream.js";
import type {
  AdvertiseKeys,
  ClientMessage,
  MaskedInput,
  SealedShare,
  SecretKind,
  ServerMessage,
  ShareKeys,
  UnmaskResponse,
} from "./messages.js";
import { assertSameParams, paramsDigest, type SecAggParams, validateParams } from "./params.js";
import { reconstructVerified } from "./reconstruct.js";
import { type Share, shareFromBytes } from "./shamir.js";

/**
 * The coordinator's side of one secure-aggregation round, message in → messages out, no I/O.
 * Stages: advertise-keys → share-keys → masked-input → unmask → done (or aborted). A stage ends
 * when every client still in the round has answered, or when the transport calls closeStage()
 * at its deadline; whoever has not answered by then has dropped.
 *
 * Masked inputs are folded into one running sum as they arrive (memory flat in n: one vector,
 * plus O(n·k) keys and sealed shares). The sum is released only when every mask in it has been
 * removed; on an abort it is discarded, so below the threshold nothing is revealed.
 *
 * Checking reconstructions: a mask key is checked against the public key the dealer advertised
 * (X25519 base-point multiplication); a self-mask seed against the SHA-512 commitment the dealer
 * sent with its shares. A commitment is one hash per client, and unlike trying subsets alone it
 * tells a right seed from a wrong one; subsets are then tried so that a few bad shares are
 * outvoted (and their holders named) rather than aborting the round.
 */
export type ServerStage = "advertise-keys" | "share-keys" | "masked-input" | "unmask" | "done" | "aborted";

export interface Outgoing {
  readonly to: string;
  readonly message: ServerMessage;
}

/** The only thing the server learns: the sum of the survivors' encoded inputs, and who they are. */
export interface SecAggResult {
  /** Σ encoded inputs mod 2^32 over the survivors; decodeMean(sum, count, params) gives the mean. */
  readonly sum: Uint32Array;
  readonly count: number;
  readonly survivors: readonly string[];
  /** Cohort members whose input is not in the sum (dropped, or left out at some stage). */
  readonly dropped: readonly string[];
}

export interface SecAggAbort {
  /** The stage that could not complete. */
  readonly stage: ServerStage;
  readonly reason: SecAggReason;
  readonly message: string;
}

/** A message refused or a misbehaviour seen, for the coordinator's record. */
export interface SecAggFault {
  readonly client: string;
  readonly reason: SecAggReason;
  readonly message: string;
}

export interface ServerStep {
  readonly send: readonly Outgoing[];
  readonly result?: SecAggResult;
  readonly abort?: SecAggAbort;
}

export interface SecAggServer {
  readonly stage: ServerStage;
  readonly params: SecAggParams;
  /** Takes one client message; throws SecAggError to refuse it, leaving the state as it was. */
  receive(message: ClientMessage): ServerStep;
  /** The stage's deadline passed: go on with those who answered (or abort, saying why). */
  closeStage(): ServerStep;
  readonly result: SecAggResult | undefined;
  readonly abort: SecAggAbort | undefined;
  readonly faults: readonly SecAggFault[];
}

const STAGE_OF: Record<ClientMessage["type"], number> = {
  "advertise-keys": 0,
  "share-keys": 1,
  "masked-input": 2,
  "unmask-response": 3,
};
const STAGES: readonly ServerStage[] = ["advertise-keys", "share-keys", "masked-input", "unmask"];

interface Keys {
  readonly encryptionKey: Uint8Array;
  readonly maskKey: Uint8Array;
}

/** A secret the server will reconstruct: whose, which, from which holders. */
interface Needed {
  readonly dealer: number;
  readonly secret: SecretKind;
  readonly holders: readonly number[];
}

export function createSecAggServer(params: SecAggParams): SecAggServer {
  validateParams(params);
  const { cohort, threshold } = params;
  const n = cohort.length;
  const graph = neighbourGraph({
    cohortSize: n,
    degree: params.degree,
    seed: fromHex(params.graphSeed) as Uint8Array,
    session: params.session,
  });
  const digest = paramsDigest(params);
  const indexOf = new Map(cohort.map((id, i) => [id, i]));

  let stage: ServerStage = "advertise-keys";
  let result: SecAggResult | undefined;
  let abort: SecAggAbort | undefined;
  const faults: SecAggFault[] = [];
  /** Who answered each stage; members of the round at the next are those of the previous, pruned. */
  const answered: Set<number>[] = [new Set(), new Set(), new Set(), new Set()];
  let members = new Set(cohort.map((_, i) => i));
  const keys = new Map<number, Keys>();
  const commitments = new Map<number, Uint8Array>();
  const sealed = new Map<number, Map<number, SealedShare>>();
  const complaints = new Map<number, Set<number>>();
  let sum: Uint32Array | undefined;
  let needed: Needed[] = [];
  const revealed = new Map<string, Share[]>();
  const asked = new Map<number, Map<number, SecretKind>>();

  const neededKey = (dealer: number, secret: SecretKind) => `${dealer}:${secret}`;

  function reject(client: string, code: ErrorCode, reason: SecAggReason, message: string): SecAggError {
    faults.push({ client, reason, message });
    return new SecAggError(code, reason, `from ${client}: ${message}`);
  }

  function checkEnvelope(message: ClientMessage): number {
    const from = String(message.from);
    if (stage === "done" || stage === "aborted") {
      throw reject(from, ErrorCode.FailedPrecondition, SecAggReason.WrongStage, `the round is ${stage}`);
    }
    if (message.session !== params.session || message.round !== params.round) {
      throw reject(
        from,
        ErrorCode.WrongRound,
        SecAggReason.WrongRound,
        `the message is for round ${message.round} (${message.session}); this is round ${params.round} (${params.session})`,
      );
    }
    const sender = indexOf.get(from);
    if (sender === undefined) {
      throw reject(from, ErrorCode.UnknownSite, SecAggReason.UnknownSender, "not in this round's cohort");
    }
    const kind = STAGE_OF[message.type];
    if (kind === undefined) {
      throw reject(from, ErrorCode.InvalidArgument, SecAggReason.Malformed, "unknown message type");
    }
    const current = STAGES.indexOf(stage);
    if (answered[kind]?.has(sender)) {
      throw reject(from, ErrorCode.Replay, SecAggReason.Replay, `${message.type} was already received`);
    }
    if (kind !== current) {
      throw reject(
        from,
        ErrorCode.FailedPrecondition,
        SecAggReason.WrongStage,
        `${message.type} arrived ${kind < current ? "after its stage closed" : "before its stage"} (now ${stage})`,
      );
    }
    if (!members.has(sender)) {
      throw reject(
        from,
        ErrorCode.FailedPrecondition,
        SecAggReason.UnknownSender,
        "was left out of the round earlier",
      );
    }
    return sender;
  }

  function onAdvertise(sender: number, message: AdvertiseKeys): void {
    try {
      assertSameParams(params, message.params, `client ${message.from}`);
    } catch (error) {
      const e = error as SecAggError;
      faults.push({ client: message.from, reason: e.reason, message: e.message });
      throw e;
    }
    if (!isKey(message.encryptionKey) || !isKey(message.maskKey)) {
      throw reject(
        message.from,
        ErrorCode.InvalidArgument,
        SecAggReason.Malformed,
        "public keys must be 32 bytes",
      );
    }
    keys.set(sender, { encryptionKey: message.encryptionKey, maskKey: message.maskKey });
  }

  function onShareKeys(sender: number, message: ShareKeys): void {
    if (!(message.selfMaskCommitment instanceof Uint8Array) || message.selfMaskCommitment.length !== 32) {
      throw reject(
        message.from,
        ErrorCode.InvalidArgument,
        SecAggReason.Malformed,
        "the commitment must be 32 bytes",
      );
    }
    const expected = new Set(neighboursIn(sender, members));
    const byHolder = new Map<number, SealedShare>();
    for (const share of message.shares) {
      const holder = indexOf.get(share.to);
      if (holder === undefined || !expected.has(holder) || byHolder.has(holder)) {
        throw reject(
          message.from,
          ErrorCode.InvalidArgument,
          SecAggReason.Malformed,
          `a share is addressed to ${share.to}, not a neighbour in the round, or twice`,
        );
      }
      if (!(share.nonce instanceof Uint8Array) || !(share.ciphertext instanceof Uint8Array)) {
        throw reject(message.from, ErrorCode.InvalidArgument, SecAggReason.Malformed, "a share is not bytes");
      }
      byHolder.set(holder, { nonce: share.nonce, ciphertext: share.ciphertext });
    }
    if (byHolder.size !== expected.size) {
      throw reject(
        message.from,
        ErrorCode.InvalidArgument,
        SecAggReason.Malformed,
        `${byHolder.size} shares for ${expected.size} neighbours: every neighbour needs one`,
      );
    }
    commitments.set(sender, message.selfMaskCommitment);
    sealed.set(sender, byHolder);
  }

  function onMaskedInput(sender: number, message: MaskedInput): void {
    if (!(message.masked instanceof Uint32Array) || message.masked.length !== params.vectorLength) {
      throw reject(
        message.from,
        ErrorCode.WeightsShapeMismatch,
        SecAggReason.Malformed,
        `the masked input must be a Uint32Array of ${params.vectorLength} values`,
      );
    }
    const dealers = new Set<number>();
    for (const dealer of message.complaints) {
      const index = indexOf.get(dealer);
      if (index === undefined || !neighboursIn(sender, members).includes(index) || dealers.has(index)) {
        throw reject(
          message.from,
          ErrorCode.InvalidArgument,
          SecAggReason.Malformed,
          `complaint about ${dealer}`,
        );
      }
      dealers.add(index);
    }
    for (const dealer of dealers) {
      faults.push({
        client: cohort[dealer] as string,
        reason: SecAggReason.BadShare,
        message: `${message.from} could not open the share ${cohort[dealer]} dealt it`,
      });
    }
    complaints.set(sender, dealers);
    const target = sum as Uint32Array;
    const masked = message.masked;
    for (let i = 0; i < target.length; i++) target[i] = (target[i] as number) + (masked[i] as number);
  }

  function onUnmask(sender: number, message: UnmaskResponse): void {
    const mine = asked.get(sender) ?? new Map<number, SecretKind>();
    const seen = new Set<number>();
    const parsed: { key: string; share: Share }[] = [];
    for (const share of message.shares) {
      const dealer = indexOf.get(share.dealer);
      const y = share.y instanceof Uint8Array ? shareFromBytes(share.y) : undefined;
      if (dealer === undefined || mine.get(dealer) !== share.secret || seen.has(dealer) || y === undefined) {
        throw reject(
          message.from,
          ErrorCode.InvalidArgument,
          SecAggReason.Malformed,
          `a ${share.secret} share of ${share.dealer} was not asked for, is repeated, or is not a field element`,
        );
      }
      seen.add(dealer);
      parsed.push({ key: neededKey(dealer, share.secret), share: { x: sender + 1, y } });
    }
    for (const { key, share } of parsed) revealed.get(key)?.push(share);
  }

  /** Neighbours of `client` that are in `set`. */
  function neighboursIn(client: number, set: ReadonlySet<number>): number[] {
    return (graph[client] ?? []).filter((v) => set.has(v));
  }

  /**
   * Drops clients whose secrets would have fewer than t live holders (themselves included),
   * repeatedly, since each removal shrinks its neighbours' holder sets.
   */
  function pruneBelowThreshold(set: Set<number>): Set<number> {
    const live = new Set(set);
    for (let changed = true; changed; ) {
      changed = false;
      for (const client of live) {
        if (neighboursIn(client, live).length + 1 < threshold) {
          live.delete(client);
          faults.push({
            client: cohort[client] as string,
            reason: SecAggReason.BelowThreshold,
            message: `left out: fewer than ${threshold} of its neighbourhood are still in the round`,
          });
          changed = true;
        }
      }
    }
    return live;
  }

  function fail(reason: SecAggReason, message: string): ServerStep {
    abort = { stage, reason, message: `secure aggregation aborted at ${stage} (${reason}): ${message}` };
    stage = "aborted";
    sum = undefined;
    revealed.clear();
    return { send: [], abort };
  }

  function requireSurvivors(
    set: ReadonlySet<number>,
    answeredCount: number,
    what: string,
  ): ServerStep | undefined {
    if (set.size >= params.minSurvivors) return undefined;
    return fail(
      SecAggReason.BelowThreshold,
      `${answeredCount} clients ${what}, ${set.size} of them recoverable; the round needs at least ${params.minSurvivors}`,
    );
  }

  function closeAdvertise(): ServerStep {
    members = pruneBelowThreshold(answered[0] as Set<number>);
    const failed = requireSurvivors(members, answered[0]?.size ?? 0, "advertised keys");
    if (failed) return failed;
    stage = "share-keys";
    const send = [...members].map((client) => ({
      to: cohort[client] as string,
      message: {
        type: "neighbour-keys" as const,
        session: params.session,
        round: params.round,
        paramsDigest: digest,
        neighbours: neighboursIn(client, members).map((v) => ({
          id: cohort[v] as string,
          ...(keys.get(v) as Keys),
        })),
      },
    }));
    return { send };
  }

  function closeShareKeys(): ServerStep {
    const sharers = pruneBelowThreshold(answered[1] as Set<number>);
    members = sharers;
    const failed = requireSurvivors(members, answered[1]?.size ?? 0, "shared their keys");
    if (failed) return failed;
    stage = "masked-input";
    sum = new Uint32Array(params.vectorLength);
    const send = [...members].map((holder) => ({
      to: cohort[holder] as string,
      message: {
        type: "relayed-shares" as const,
        session: params.session,
        round: params.round,
        shares: neighboursIn(holder, members).map((dealer) => ({
          from: cohort[dealer] as string,
          ...(sealed.get(dealer)?.get(holder) as SealedShare),
        })),
      },
    }));
    return { send };
  }

  function closeMaskedInput(): ServerStep {
    const sharers = members;
    const survivors = answered[2] as Set<number>;
    members = survivors;
    const failed = requireSurvivors(survivors, survivors.size, "sent a masked input");
    if (failed) return failed;
    needed = [];
    for (const dealer of sharers) {
      const survived = survivors.has(dealer);
      // A dropped client with no surviving neighbour left no mask in the sum: nothing to recover.
      if (!survived && neighboursIn(dealer, survivors).length === 0) continue;
      const holders = [...(survived ? [dealer] : []), ...neighboursIn(dealer, survivors)].filter(
        (holder) => !complaints.get(holder)?.has(dealer),
      );
      if (holders.length < threshold) {
        return fail(
          SecAggReason.BelowThreshold,
          `${cohort[dealer]}'s ${survived ? "self-mask seed" : "mask key"} has ${holders.length} ` +
            `holders left, below the threshold ${threshold}`,
        );
      }
      needed.push({ dealer, secret: survived ? "self-mask" : "mask-key", holders });
    }
    for (const need of needed) {
      revealed.set(neededKey(need.dealer, need.secret), []);
      for (const holder of need.holders) {
        const requests = asked.get(holder) ?? new Map<number, SecretKind>();
        requests.set(need.dealer, need.secret);
        asked.set(holder, requests);
      }
    }
    stage = "unmask";
    const survivorIds = [...survivors].map((i) => cohort[i] as string);
    const send = [...survivors].map((holder) => ({
      to: cohort[holder] as string,
      message: {
        type: "unmask-request" as const,
        session: params.session,
        round: params.round,
        survivors: survivorIds,
        requests: [...(asked.get(holder) ?? new Map<number, SecretKind>())].map(([dealer, secret]) => ({
          dealer: cohort[dealer] as string,
          secret,
        })),
      },
    }));
    return { send };
  }

  function finish(): ServerStep {
    const survivors = [...members];
    const total = sum as Uint32Array;
    const recovered = new Map<string, Uint8Array>();
    for (const need of needed) {
      const shares = revealed.get(neededKey(need.dealer, need.secret)) ?? [];
      const dealerId = cohort[need.dealer] as string;
      const what = need.secret === "self-mask" ? "self-mask seed" : "mask key";
      if (shares.length < threshold) {
        return fail(
          SecAggReason.BelowThreshold,
          `${shares.length} shares of ${dealerId}'s ${what} arrived, below the threshold ${threshold}`,
        );
      }
      const verify =
        need.secret === "self-mask"
          ? (seed: Uint8Array) =>
              bytesEqual(
                selfMaskCommitment({ seed, session: params.session, round: params.round, dealer: dealerId }),
                commitments.get(need.dealer) as Uint8Array,
              )
          : (secretKey: Uint8Array) =>
              bytesEqual(x25519.scalarMultBase(secretKey), (keys.get(need.dealer) as Keys).maskKey);
      const reconstruction = reconstructVerified(shares, threshold, verify);
      if (reconstruction === undefined) {
        return fail(
          SecAggReason.InconsistentShares,
          `no ${threshold} of the ${shares.length} shares of ${dealerId}'s ${what} reconstruct a value that ` +
            `matches its ${need.secret === "self-mask" ? "commitment" : "public key"}: ${dealerId} dealt ` +
            "inconsistent shares or holders returned wrong ones",
        );
      }
      for (const bad of reconstruction.badShares) {
        faults.push({
          client: cohort[bad.x - 1] as string,
          reason: SecAggReason.InconsistentShares,
          message: `its share of ${dealerId}'s ${what} is not on the dealer's polynomial (bad holder or dealer)`,
        });
      }
      recovered.set(neededKey(need.dealer, need.secret), reconstruction.secret);
    }
    for (const need of needed) {
      const secret = recovered.get(neededKey(need.dealer, need.secret)) as Uint8Array;
      if (need.secret === "self-mask") {
        applyMask(total, secret, -1);
        continue;
      }
      for (const survivor of neighboursIn(need.dealer, members)) {
        const seed = pairwiseSeed({
          mySecretKey: secret,
          theirPublicKey: (keys.get(survivor) as Keys).maskKey,
          session: params.session,
          round: params.round,
          ids: [cohort[survivor] as string, cohort[need.dealer] as string],
        });
        // The survivor added its mask with the lower index's sign; take it back out.
        applyMask(total, seed, survivor < need.dealer ? -1 : 1);
      }
    }
    const set = new Set(survivors);
    result = Object.freeze({
      sum: total,
      count: survivors.length,
      survivors: survivors.map((i) => cohort[i] as string),
      dropped: cohort.filter((_, i) => !set.has(i)),
    });
    stage = "done";
    sum = undefined;
    return { send: [], result };
  }

  function close(): ServerStep {
    switch (stage) {
      case "advertise-keys":
        return closeAdvertise();
      case "share-keys":
        return closeShareKeys();
      case "masked-input":
        return closeMaskedInput();
      case "unmask":
        return finish();
      default:
        return { send: [] };
    }
  }

  return {
    params,
    get stage() {
      return stage;
    },
    get result() {
      return result;
    },
    get abort() {
      return abort;
    },
    get faults() {
      return faults;
    },
    receive(message: ClientMessage): ServerStep {
      const sender = checkEnvelope(message);
      switch (message.type) {
        case "advertise-keys":
          onAdvertise(sender, message);
          break;
        case "share-keys":
          onShareKeys(sender, message);
          break;
        case "masked-input":
          onMaskedInput(sender, message);
          break;
        case "unmask-response":
          onUnmask(sender, message);
          break;
      }
      const kind = STAGE_OF[message.type];
      answered[kind]?.add(sender);
      // Everyone still in the round has answered: no need to wait for the deadline.
      return [...members].every((m) => answered[kind]?.has(m)) ? close() : { send: [] };
    },
    closeStage(): ServerStep {
      return close();
    },
  };
}

function isKey(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === 32;
}
