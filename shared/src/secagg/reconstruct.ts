import { combineShares, interpolateAt, type Share } from "./shamir.js";

/** Subsets tried before giving up: C(13, 7) = 1716 covers every subset at n = 50's defaults. */
export const MAX_SUBSETS = 5000;

export interface Reconstruction {
  readonly secret: Uint8Array;
  /** Shares that do not lie on the polynomial the verified secret came from. */
  readonly badShares: readonly Share[];
}

/**
 * Recovers a secret from `shares` (≥ threshold), accepting only a value `verify` approves (the
 * dealer's commitment or public key): tries threshold-subsets in order, so up to
 * shares − threshold wrong shares are outvoted, within MAX_SUBSETS tries. Undefined when no
 * subset verifies. Without `verify`, any t shares give some value and a bad one would
 * silently corrupt the sum; with it, a bad share is caught and its holder named.
 */
export function reconstructVerified(
  shares: readonly Share[],
  threshold: number,
  verify: (secret: Uint8Array) => boolean,
): Reconstruction | undefined {
  if (shares.length < threshold) return undefined;
  let tries = 0;
  for (const subset of combinations(shares.length, threshold)) {
    if (++tries > MAX_SUBSETS) return undefined;
    const chosen = subset.map((i) => shares[i] as Share);
    const secret = combineShares(chosen);
    if (secret === undefined || !verify(secret)) continue;
    const badShares = shares.filter(
      (share, i) => !subset.includes(i) && interpolateAt(chosen, share.x) !== share.y,
    );
    return { secret, badShares };
  }
  return undefined;
}

/** k-subsets of 0..n−1 in lexicographic order. */
function* combinations(n: number, k: number): Generator<number[]> {
  const index = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    yield [...index];
    let i = k - 1;
    while (i >= 0 && index[i] === n - k + i) i--;
    if (i < 0) return;
    index[i] = (index[i] as number) + 1;
    for (let j = i + 1; j < k; j++) index[j] = (index[j - 1] as number) + 1;
  }
}
