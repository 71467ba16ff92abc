import { Buffer } from "node:buffer";
import { createCipheriv } from "node:crypto";
import { utf8 } from "../crypto/encoding.js";
import { hashFields } from "./mask-stream.js";

/**
 * The SecAgg+ neighbour graph (Bell et al. 2020): instead of masking with and sharing secrets
 * among all n − 1 others (Bonawitz et al. 2017, O(n) per client), each client does both with its
 * k neighbours in a random k-regular graph, k = O(log n), so a client's work and bytes grow like
 * log n and the server's like n·log n. The graph is a Harary graph H(k, n) — the clients on a
 * ring, each joined to the k/2 nearest on either side — laid over a random permutation of the
 * cohort drawn from the round's public seed, so which clients are neighbours is not chosen by
 * their ids. Both sides compute it from the parameters; nothing about it travels.
 *
 * Degree: k = 2⌈log2 n⌉ (even, so the ring construction is regular), capped at n − 1 where the
 * graph becomes complete (n ≤ 7 here, plain Bonawitz). This is an engineering choice that keeps
 * a neighbourhood of 2⌈log2 n⌉ + 1 holders (the client itself holds a share too); Bell et al.'s
 * bound for a 2^−40 failure probability against a given fraction of corrupt and dropped clients
 * asks for a larger constant, which a plan can set through `degree`.
 */
export function defaultDegree(cohortSize: number): number {
  if (cohortSize <= 1) return 0;
  return Math.min(cohortSize - 1, 2 * Math.ceil(Math.log2(cohortSize)));
}

/**
 * Threshold per neighbourhood: a strict majority of its k + 1 holders, t = ⌊(k + 1)/2⌋ + 1. A
 * majority matters for safety, not just liveness: to unmask one client's input, the server would
 * need t holders to reveal its self-mask seed and t to reveal its mask key; with 2t > k + 1 some
 * holder would have to reveal both, which an honest client refuses. It tolerates k + 1 − t
 * dropped holders per neighbourhood.
 */
export function defaultThreshold(degree: number): number {
  return Math.floor((degree + 1) / 2) + 1;
}

/**
 * For each cohort index, the sorted indices of its neighbours. `degree` is n − 1 (complete) or
 * an even number from 2 to n − 2.
 */
export function neighbourGraph(options: {
  cohortSize: number;
  degree: number;
  seed: Uint8Array;
  session: string;
}): number[][] {
  const { cohortSize: n, degree } = options;
  if (degree >= n - 1) {
    return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => j).filter((j) => j !== i));
  }
  if (degree < 2 || degree % 2 !== 0) throw new RangeError(`degree ${degree} must be even, or n − 1`);
  const order = seededPermutation(n, hashFields("fl.secagg.v1.graph", [options.seed, utf8(options.session)]));
  const neighbours: Set<number>[] = Array.from({ length: n }, () => new Set<number>());
  for (let position = 0; position < n; position++) {
    const me = order[position] as number;
    for (let step = 1; step <= degree / 2; step++) {
      const other = order[(position + step) % n] as number;
      neighbours[me]?.add(other);
      neighbours[other]?.add(me);
    }
  }
  return neighbours.map((set) => [...set].sort((a, b) => a - b));
}

/** Fisher–Yates over 0..n−1 driven by a ChaCha20 stream, with rejection so each draw is unbiased. */
export function seededPermutation(n: number, key: Uint8Array): number[] {
  const cipher = createCipheriv("chacha20", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(4 * 64);
  let pool = new DataView(new ArrayBuffer(0));
  let offset = 0;
  const nextWord = (): number => {
    if (offset >= pool.byteLength) {
      const out = cipher.update(zeros);
      pool = new DataView(out.buffer, out.byteOffset, out.byteLength);
      offset = 0;
    }
    const word = pool.getUint32(offset, true);
    offset += 4;
    return word;
  };
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const range = i + 1;
    const limit = 2 ** 32 - (2 ** 32 % range);
    let word = nextWord();
    while (word >= limit) word = nextWord();
    const j = word % range;
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}
