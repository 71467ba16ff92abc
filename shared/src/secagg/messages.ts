import type { SecAggParams } from "./params.js";

/**
 * The protocol's messages, as plain data: a transport carries them (a later step extends the
 * gRPC proto) and signs the client's ones with the site's identity key. Every message names the
 * session and round it belongs to; a client's also names its sender, which the transport must
 * check against the authenticated site.
 */
interface Envelope {
  readonly session: string;
  readonly round: number;
}

interface FromClient extends Envelope {
  readonly from: string;
}

/** Stage 0, client → server: two fresh X25519 public keys and the parameters it runs with. */
export interface AdvertiseKeys extends FromClient {
  readonly type: "advertise-keys";
  readonly params: SecAggParams;
  /** Encrypts the shares others send to this client (nacl.box). */
  readonly encryptionKey: Uint8Array;
  /** Agrees the pairwise mask seeds with its neighbours. */
  readonly maskKey: Uint8Array;
}

/** Stage 0 reply, server → each client: the keys of its neighbours that advertised. */
export interface NeighbourKeys extends Envelope {
  readonly type: "neighbour-keys";
  readonly paramsDigest: string;
  readonly neighbours: readonly {
    readonly id: string;
    readonly encryptionKey: Uint8Array;
    readonly maskKey: Uint8Array;
  }[];
}

/** One share pair sealed by its dealer for one holder (nacl.box, dealer → holder). */
export interface SealedShare {
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** Stage 1, client → server: its shares for each neighbour, and a commitment to its self-mask seed. */
export interface ShareKeys extends FromClient {
  readonly type: "share-keys";
  /** Lets the server check the self-mask seed it reconstructs (hash commitment, see server.ts). */
  readonly selfMaskCommitment: Uint8Array;
  readonly shares: readonly (SealedShare & { readonly to: string })[];
}

/** Stage 1 relay, server → each client: the shares addressed to it by dealers still in the round. */
export interface RelayedShares extends Envelope {
  readonly type: "relayed-shares";
  readonly shares: readonly (SealedShare & { readonly from: string })[];
}

/** Stage 2, client → server: the masked, encoded update. */
export interface MaskedInput extends FromClient {
  readonly type: "masked-input";
  readonly masked: Uint32Array;
  /** Dealers whose sealed share did not open or did not parse: this client holds none of theirs. */
  readonly complaints: readonly string[];
}

/** Which of a dealer's two secrets a holder is asked to reveal its share of. */
export type SecretKind = "self-mask" | "mask-key";

/** Stage 3, server → each survivor: the shares it wants, and the survivors it claims. */
export interface UnmaskRequest extends Envelope {
  readonly type: "unmask-request";
  /** Clients whose masked input is in the sum: for them the self-mask share, for others the mask key. */
  readonly survivors: readonly string[];
  readonly requests: readonly { readonly dealer: string; readonly secret: SecretKind }[];
}

/** Stage 3 reply, client → server: the requested shares (those it holds). */
export interface UnmaskResponse extends FromClient {
  readonly type: "unmask-response";
  readonly shares: readonly {
    readonly dealer: string;
    readonly secret: SecretKind;
    readonly y: Uint8Array;
  }[];
}

export type ClientMessage = AdvertiseKeys | ShareKeys | MaskedInput | UnmaskResponse;
export type ServerMessage = NeighbourKeys | RelayedShares | UnmaskRequest;

/**
 * Approximate bytes a message takes on the wire (binary fields at their length, strings as UTF-8,
 * plus a few bytes of framing per field as protobuf would add). For the benchmark.
 */
export function wireBytes(message: ClientMessage | ServerMessage): number {
  let total = 0;
  const visit = (value: unknown): void => {
    total += 2;
    if (value instanceof Uint8Array || value instanceof Uint32Array) total += value.byteLength;
    else if (typeof value === "string") total += new TextEncoder().encode(value).length;
    else if (typeof value === "number") total += 4;
    else if (Array.isArray(value)) for (const item of value) visit(item);
    else if (value !== null && typeof value === "object")
      for (const item of Object.values(value)) visit(item);
  };
  visit(message);
  return total;
}
