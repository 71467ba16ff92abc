import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import {
  createJoinChallenge,
  generateIdentity,
  joinMessage,
  publicIdentity,
  signJoin,
  verifyJoin,
} from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const site = generateIdentity("hospital-a", seededRandom(11));
const intruder = generateIdentity("hospital-a", seededRandom(12));
const challenge = createJoinChallenge(seededRandom(13));

describe("joinMessage", () => {
  it("is the domain tag followed by length-prefixed federation, site, challenge and channel binding", () => {
    const shortChallenge = new Uint8Array(16).fill(0xaa);
    const expected = (binding: number[]) => [
      ...new TextEncoder().encode("fl.v1/join"),
      0,
      ...[0, 0, 0, 1],
      "f".charCodeAt(0),
      ...[0, 0, 0, 2],
      "s".charCodeAt(0),
      "1".charCodeAt(0),
      ...[0, 0, 0, 16],
      ...shortChallenge,
      ...[0, 0, 0, binding.length],
      ...binding,
    ];
    expect(Array.from(joinMessage("f", "s1", shortChallenge))).toEqual(expected([]));
    expect(Array.from(joinMessage("f", "s1", shortChallenge, "ab"))).toEqual(expected([0x61, 0x62]));
  });

  it("does not let field boundaries shift", () => {
    expect(joinMessage("ab", "c", challenge)).not.toEqual(joinMessage("a", "bc", challenge));
  });

  it("refuses short challenges and empty ids", () => {
    expectFlError(() => joinMessage("f", "s", new Uint8Array(15)), ErrorCode.InvalidArgument, "16");
    expectFlError(() => joinMessage("", "s", challenge), ErrorCode.InvalidArgument, "federation");
    expectFlError(() => joinMessage("f", "", challenge), ErrorCode.InvalidArgument, "site");
  });
});

describe("signJoin / verifyJoin", () => {
  const enrolled = publicIdentity(site);

  it("verifies the enrolled site's signature, which is Ed25519 over joinMessage", () => {
    const signature = signJoin(site, "fed-1", challenge);
    expect(signature).toHaveLength(64);
    expect(verifyJoin(enrolled, "fed-1", challenge, signature)).toBe(true);
    expect(
      nacl.sign.detached.verify(
        joinMessage("fed-1", "hospital-a", challenge),
        signature,
        site.signing.publicKey,
      ),
    ).toBe(true);
  });

  it("is bound to the federation", () => {
    const signature = signJoin(site, "fed-1", challenge);
    expect(verifyJoin(enrolled, "fed-2", challenge, signature)).toBe(false);
  });

  it("is bound to the challenge (a replayed join fails on a fresh challenge)", () => {
    const signature = signJoin(site, "fed-1", challenge);
    const fresh = createJoinChallenge(seededRandom(14));
    expect(verifyJoin(enrolled, "fed-1", fresh, signature)).toBe(false);
    const flipped = Uint8Array.from(challenge);
    flipped[31] = (flipped[31] ?? 0) ^ 0x01;
    expect(verifyJoin(enrolled, "fed-1", flipped, signature)).toBe(false);
  });

  it("is bound to the site id", () => {
    const signature = signJoin(site, "fed-1", challenge);
    expect(verifyJoin({ ...enrolled, id: "hospital-b" }, "fed-1", challenge, signature)).toBe(false);
  });

  it("fails for a key that is not the enrolled one, even under the same id", () => {
    const signature = signJoin(intruder, "fed-1", challenge);
    expect(verifyJoin(enrolled, "fed-1", challenge, signature)).toBe(false);
  });

  it("fails for a tampered or malformed signature without throwing", () => {
    const signature = signJoin(site, "fed-1", challenge);
    const tampered = Uint8Array.from(signature);
    tampered[10] = (tampered[10] ?? 0) ^ 0x80;
    expect(verifyJoin(enrolled, "fed-1", challenge, tampered)).toBe(false);
    expect(verifyJoin(enrolled, "fed-1", challenge, signature.subarray(0, 63))).toBe(false);
    expect(verifyJoin(enrolled, "fed-1", challenge, new Uint8Array(0))).toBe(false);
    expect(verifyJoin(enrolled, "fed-1", new Uint8Array(8), signature)).toBe(false);
    expect(
      verifyJoin({ ...enrolled, signingPublicKey: new Uint8Array(31) }, "fed-1", challenge, signature),
    ).toBe(false);
  });

  it("makes 32-byte challenges that differ", () => {
    expect(createJoinChallenge()).toHaveLength(32);
    expect(createJoinChallenge()).not.toEqual(createJoinChallenge());
  });
});
