import { describe, expect, it } from "vitest";
import { reconstructVerified } from "../../../shared/src/secagg/reconstruct.js";
import {
  combineShares,
  FIELD_PRIME,
  interpolateAt,
  SHARE_BYTES,
  shareFromBytes,
  shareToBytes,
  splitSecret,
} from "../../../shared/src/secagg/shamir.js";
import { seededRandom } from "./harness.js";

describe("Shamir over GF(2^521 − 1)", () => {
  it("interpolates a hand-made polynomial: f(x) = 5 + 3x + 2x²", () => {
    const shares = [1, 2, 3].map((x) => ({ x, y: BigInt(5 + 3 * x + 2 * x * x) }));
    expect(interpolateAt(shares, 0)).toBe(5n);
    expect(interpolateAt(shares, 4)).toBe(BigInt(5 + 12 + 32));
    // Negative values live mod p: f(x) = −1 (constant) at any x.
    expect(interpolateAt([{ x: 9, y: FIELD_PRIME - 1n }], 0)).toBe(FIELD_PRIME - 1n);
  });

  it("any t of n shares give the secret back; t − 1 do not", () => {
    const random = seededRandom("shamir");
    const secret = random(32);
    const xs = [1, 2, 3, 4, 5, 6, 7];
    const shares = splitSecret(secret, { threshold: 4, xs, random });
    const subsets = [
      [0, 1, 2, 3],
      [3, 4, 5, 6],
      [0, 2, 4, 6],
      [6, 1, 5, 0],
    ];
    for (const subset of subsets) expect(combineShares(subset.map((i) => shares[i]!))).toEqual(secret);
    const three = interpolateAt(shares.slice(0, 3), 0);
    expect(three).not.toBe(BigInt(`0x${Buffer.from(secret).toString("hex")}`));
  });

  it("the shares are the polynomial's values: a second evaluation by Horner in the test agrees", () => {
    // threshold 1 is the constant polynomial: every share is the secret itself.
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    const constant = splitSecret(secret, { threshold: 1, xs: [3, 8], random: seededRandom("c") });
    const value = BigInt(`0x${Buffer.from(secret).toString("hex")}`);
    expect(constant.map((s) => s.y)).toEqual([value, value]);
    // With threshold 2, f(x) = s + a·x: the slope from two shares predicts a third.
    const linear = splitSecret(secret, { threshold: 2, xs: [1, 2, 5], random: seededRandom("l") });
    const slope = (linear[1]!.y - linear[0]!.y + FIELD_PRIME) % FIELD_PRIME;
    expect(linear[2]!.y).toBe((value + 5n * slope) % FIELD_PRIME);
  });

  it("share bytes round-trip and refuse values that are not field elements", () => {
    const y = FIELD_PRIME - 2n;
    const bytes = shareToBytes(y);
    expect(bytes.length).toBe(SHARE_BYTES);
    expect(shareFromBytes(bytes)).toBe(y);
    expect(
      shareFromBytes(shareToBytes(FIELD_PRIME - 1n).map((b, i) => (i === 65 ? b + 1 : b))),
    ).toBeUndefined();
    expect(shareFromBytes(new Uint8Array(65))).toBeUndefined();
  });

  it("verified reconstruction outvotes a wrong share and names it, and fails when no subset verifies", () => {
    const random = seededRandom("verify");
    const secret = random(32);
    const shares = splitSecret(secret, { threshold: 3, xs: [1, 2, 3, 4, 5], random });
    const bad = shares.map((s, i) => (i === 0 ? { ...s, y: (s.y + 1n) % FIELD_PRIME } : s));
    const check = (value: Uint8Array) => Buffer.from(value).equals(Buffer.from(secret));
    const result = reconstructVerified(bad, 3, check);
    expect(result?.secret).toEqual(secret);
    expect(result?.badShares.map((s) => s.x)).toEqual([1]);
    // Unrelated errors per share: one common offset could cancel in some subset's Lagrange weights.
    const tooMany = shares.map((s, i) =>
      i < 3 ? { ...s, y: (s.y + BigInt(i + 1) * 2n ** 400n + 12345n) % FIELD_PRIME } : s,
    );
    expect(reconstructVerified(tooMany, 3, check)).toBeUndefined();
    expect(reconstructVerified(shares.slice(0, 2), 3, check)).toBeUndefined();
  });

  it("refuses bad arguments", () => {
    const random = seededRandom("args");
    expect(() => splitSecret(new Uint8Array(33), { threshold: 2, xs: [1, 2], random })).toThrow(/at most 32/);
    expect(() => splitSecret(new Uint8Array(32), { threshold: 3, xs: [1, 2], random })).toThrow(/threshold/);
    expect(() => splitSecret(new Uint8Array(32), { threshold: 2, xs: [1, 1], random })).toThrow(/distinct/);
    expect(() => splitSecret(new Uint8Array(32), { threshold: 1, xs: [0], random })).toThrow(/positive/);
  });
});
