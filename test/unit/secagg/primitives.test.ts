import { Buffer } from "node:buffer";
import { createCipheriv } from "node:crypto";
import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import {
  defaultDegree,
  defaultThreshold,
  isSecAggError,
  neighbourGraph,
  SecAggReason,
} from "../../../shared/src/secagg/index.js";
import { applyMask, maskStream, pairwiseSeed } from "../../../shared/src/secagg/mask-stream.js";
import { openSharePair, sealSharePair } from "../../../shared/src/secagg/sealed-share.js";
import { seededRandom } from "./harness.js";

describe("mask stream", () => {
  it("is ChaCha20's keystream: RFC 8439 appendix A.1 test vector 1 (zero key, zero nonce)", () => {
    const words = maskStream(new Uint8Array(32), 4);
    // 76 b8 e0 ad a0 f1 3d 90 40 5d 6a e5 53 86 bd 28 … read as little-endian u32 words.
    expect([...words].map((w) => w.toString(16).padStart(8, "0"))).toEqual([
      "ade0b876",
      "903df1a0",
      "e56a5d40",
      "28bd8653",
    ]);
  });

  it("streams across chunk boundaries exactly like one cipher call, and a sign of −1 undoes +1", () => {
    const seed = seededRandom("m")(32);
    const length = 70_000 + 3;
    const whole = createCipheriv("chacha20", seed, Buffer.alloc(16)).update(Buffer.alloc(4 * length));
    const expected = new Uint32Array(
      whole.buffer.slice(whole.byteOffset, whole.byteOffset + whole.byteLength),
    );
    expect(maskStream(seed, length)).toEqual(expected);
    const target = Uint32Array.from({ length }, (_, i) => i * 2654435761);
    const copy = target.slice();
    applyMask(target, seed, 1);
    expect(target).not.toEqual(copy);
    applyMask(target, seed, -1);
    expect(target).toEqual(copy);
  });

  it("pairwise seeds agree at both ends and differ by round, session and pair", () => {
    const random = seededRandom("pair");
    const a = nacl.box.keyPair.fromSecretKey(random(32));
    const b = nacl.box.keyPair.fromSecretKey(random(32));
    const base = { session: "s", round: 3 };
    const ab = pairwiseSeed({
      ...base,
      mySecretKey: a.secretKey,
      theirPublicKey: b.publicKey,
      ids: ["a", "b"],
    });
    const ba = pairwiseSeed({
      ...base,
      mySecretKey: b.secretKey,
      theirPublicKey: a.publicKey,
      ids: ["b", "a"],
    });
    expect(ba).toEqual(ab);
    expect(ab).toHaveLength(32);
    const other = [
      pairwiseSeed({
        ...base,
        round: 4,
        mySecretKey: a.secretKey,
        theirPublicKey: b.publicKey,
        ids: ["a", "b"],
      }),
      pairwiseSeed({
        ...base,
        session: "t",
        mySecretKey: a.secretKey,
        theirPublicKey: b.publicKey,
        ids: ["a", "b"],
      }),
      pairwiseSeed({ ...base, mySecretKey: a.secretKey, theirPublicKey: b.publicKey, ids: ["a", "c"] }),
    ];
    for (const seed of other) expect(seed).not.toEqual(ab);
  });

  it("refuses a low-order public key, whose shared secret anyone knows", () => {
    const sk = seededRandom("low")(32);
    let error: unknown;
    try {
      pairwiseSeed({
        mySecretKey: sk,
        theirPublicKey: new Uint8Array(32),
        session: "s",
        round: 1,
        ids: ["a", "b"],
      });
    } catch (e) {
      error = e;
    }
    expect(isSecAggError(error, SecAggReason.Malformed)).toBe(true);
    expect((error as Error).message).toMatch(/low-order/);
  });
});

describe("sealed shares", () => {
  const random = seededRandom("seal");
  const dealer = nacl.box.keyPair.fromSecretKey(random(32));
  const holder = nacl.box.keyPair.fromSecretKey(random(32));
  const address = { session: "s", round: 2, dealer: "h00", holder: "h01" };
  const pair = { selfMask: 123n, maskKey: 2n ** 520n };
  const sealed = sealSharePair(pair, address, {
    dealerSecretKey: dealer.secretKey,
    holderPublicKey: holder.publicKey,
    random,
  });
  const keys = { holderSecretKey: holder.secretKey, dealerPublicKey: dealer.publicKey };

  it("open to the pair for the right address only", () => {
    expect(openSharePair(sealed, address, keys)).toEqual(pair);
    expect(openSharePair(sealed, { ...address, holder: "h02" }, keys)).toBeUndefined();
    expect(openSharePair(sealed, { ...address, round: 3 }, keys)).toBeUndefined();
    expect(openSharePair(sealed, { ...address, dealer: "h09" }, keys)).toBeUndefined();
    const flipped = { ...sealed, ciphertext: sealed.ciphertext.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(openSharePair(flipped, address, keys)).toBeUndefined();
    expect(openSharePair({ ...sealed, nonce: new Uint8Array(3) }, address, keys)).toBeUndefined();
  });
});

describe("SecAgg+ neighbour graph", () => {
  it("uses the stated degree and threshold", () => {
    expect([3, 4, 7, 8, 10, 25, 50, 1000].map(defaultDegree)).toEqual([2, 3, 6, 6, 8, 10, 12, 20]);
    expect([2, 3, 8, 10, 12].map(defaultThreshold)).toEqual([2, 3, 5, 6, 7]);
  });

  it("is k-regular, symmetric, loop-free, connected, and laid out by the seed", () => {
    const seed = seededRandom("graph")(32);
    for (const [n, k] of [
      [10, 4],
      [25, 10],
      [50, 12],
      [9, 8],
    ] as const) {
      const graph = neighbourGraph({ cohortSize: n, degree: k, seed, session: "s" });
      graph.forEach((neighbours, i) => {
        expect(neighbours).toHaveLength(k);
        expect(neighbours).not.toContain(i);
        for (const j of neighbours) expect(graph[j]).toContain(i);
      });
      const reached = new Set([0]);
      const queue = [0];
      while (queue.length > 0)
        for (const j of graph[queue.shift()!]!) if (!reached.has(j) && reached.add(j)) queue.push(j);
      expect(reached.size).toBe(n);
    }
    const a = neighbourGraph({ cohortSize: 25, degree: 4, seed, session: "s" });
    expect(neighbourGraph({ cohortSize: 25, degree: 4, seed, session: "s" })).toEqual(a);
    expect(neighbourGraph({ cohortSize: 25, degree: 4, seed, session: "t" })).not.toEqual(a);
    // Not the id order: a plain ring would join 0 to 1 and 24.
    expect(a.filter((neighbours, i) => neighbours.includes((i + 1) % 25)).length).toBeLessThan(25);
  });
});
