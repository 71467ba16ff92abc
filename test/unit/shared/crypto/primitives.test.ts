import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import {
  chunkNonce,
  createUploadParams,
  decryptChunk,
  encryptChunk,
  sharedKey,
} from "../../../../shared/src/crypto/index.js";
import { reference, secretbox, signing, x25519 } from "../../../../shared/src/crypto/primitives.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const random = seededRandom(77);
// 0 bytes, around Salsa20's 64-byte block, around the protocol's 1 MiB chunk.
const SIZES = [0, 1, 15, 16, 63, 64, 65, 1000, 4096 + 3, (1 << 20) - 1, 1 << 20];

const hex = (text: string) => Uint8Array.from(Buffer.from(text, "hex"));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe("secretbox", () => {
  it("runs on libsodium here (the fast path is the one under test)", () => {
    expect(secretbox.name).toBe("libsodium");
  });

  it("seals byte for byte as tweetnacl on random keys, nonces and sizes", () => {
    for (const size of SIZES) {
      const key = random(32);
      const nonce = random(24);
      const message = random(size);
      const box = secretbox.seal(message, nonce, key);
      expect(box.length).toBe(size + 16);
      expect(Buffer.from(box).equals(Buffer.from(nacl.secretbox(message, nonce, key)))).toBe(true);
      const opened = secretbox.open(nacl.secretbox(message, nonce, key), nonce, key);
      expect(opened && Buffer.from(opened).equals(Buffer.from(message))).toBe(true);
    }
  });

  it("refuses a tampered box, another nonce or another key with null, like tweetnacl", () => {
    const key = random(32);
    const nonce = random(24);
    const box = secretbox.seal(random(300), nonce, key);
    const flipped = [0, 15, 16, box.length - 1].map((at) => {
      const copy = box.slice();
      copy[at] = (copy[at] ?? 0) ^ 1;
      return copy;
    });
    const otherNonce = nonce.slice();
    otherNonce[23] = (otherNonce[23] ?? 0) ^ 1;
    const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
      ...flipped.map((b): [Uint8Array, Uint8Array, Uint8Array] => [b, nonce, key]),
      [box, otherNonce, key],
      [box, nonce, random(32)],
      [box.subarray(0, 16), nonce, key],
    ];
    for (const [b, n, k] of cases) {
      expect(reference.secretbox.open(b, n, k)).toBeNull();
      expect(secretbox.open(b, n, k)).toBeNull();
    }
  });

  it("keeps chunk-box's refusal of a tampered chunk the same", () => {
    const key = random(32);
    const { noncePrefix } = createUploadParams(random);
    const box = encryptChunk(random(100), 3, noncePrefix, key);
    const reference = nacl.secretbox(decryptChunk(box, 3, noncePrefix, key), chunkNonce(noncePrefix, 3), key);
    expect(Buffer.from(reference).equals(Buffer.from(box))).toBe(true);
    box[50] = (box[50] ?? 0) ^ 0x80;
    expectFlError(() => decryptChunk(box, 3, noncePrefix, key), ErrorCode.DecryptionFailed, "Chunk 3 failed");
  });
});

describe("Ed25519 signing", () => {
  it("runs on libsodium here", () => {
    expect(signing.name).toBe("libsodium");
  });

  it("gives RFC 8032's first test vector (empty message)", () => {
    const seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const publicKey = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const signature = hex(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    const pair = signing.keyPairFromSeed(seed);
    expect(same(pair.publicKey, publicKey)).toBe(true);
    // tweetnacl's secret key layout, seed then public key, which identity files store.
    expect(same(pair.secretKey, new Uint8Array([...seed, ...publicKey]))).toBe(true);
    expect(same(signing.sign(new Uint8Array(0), pair.secretKey), signature)).toBe(true);
    expect(signing.verify(new Uint8Array(0), signature, publicKey)).toBe(true);
  });

  it("signs byte for byte as tweetnacl, and each verifies the other's signatures", () => {
    for (const size of [0, 1, 32, 64, 1000]) {
      const seed = random(32);
      const pair = signing.keyPairFromSeed(seed);
      const referencePair = nacl.sign.keyPair.fromSeed(seed);
      expect(same(pair.secretKey, referencePair.secretKey)).toBe(true);
      const message = random(size);
      const signature = signing.sign(message, pair.secretKey);
      expect(same(signature, nacl.sign.detached(message, referencePair.secretKey))).toBe(true);
      expect(nacl.sign.detached.verify(message, signature, pair.publicKey)).toBe(true);
      expect(signing.verify(message, signature, pair.publicKey)).toBe(true);
    }
  });

  it("refuses another message, a flipped signature bit or another key with false, as tweetnacl does", () => {
    const pair = signing.keyPairFromSeed(random(32));
    const message = random(100);
    const signature = signing.sign(message, pair.secretKey);
    const otherMessage = message.slice();
    otherMessage[7] = (otherMessage[7] ?? 0) ^ 1;
    const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
      [otherMessage, signature, pair.publicKey],
      ...[0, 31, 32, 63].map((at): [Uint8Array, Uint8Array, Uint8Array] => {
        const copy = signature.slice();
        copy[at] = (copy[at] ?? 0) ^ 1;
        return [message, copy, pair.publicKey];
      }),
      [message, signature, signing.keyPairFromSeed(random(32)).publicKey],
    ];
    for (const [m, sig, key] of cases) {
      expect(reference.signing.verify(m, sig, key)).toBe(false);
      expect(signing.verify(m, sig, key)).toBe(false);
    }
  });

  it("answers false, not an exception, for a signature or key of the wrong length", () => {
    const pair = signing.keyPairFromSeed(random(32));
    const signature = signing.sign(random(10), pair.secretKey);
    expect(signing.verify(random(10), signature.subarray(0, 63), pair.publicKey)).toBe(false);
    expect(signing.verify(random(10), signature, pair.publicKey.subarray(0, 31))).toBe(false);
  });
});

describe("X25519", () => {
  it("runs on libsodium here", () => {
    expect(x25519.name).toBe("libsodium");
  });

  it("gives RFC 7748's Diffie-Hellman vector (section 6.1)", () => {
    const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    const alicePublic = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    const bobPublic = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    expect(same(x25519.scalarMultBase(alice), alicePublic)).toBe(true);
    expect(same(x25519.scalarMultBase(bob), bobPublic)).toBe(true);
    expect(same(x25519.scalarMult(alice, bobPublic), shared)).toBe(true);
    expect(same(x25519.scalarMult(bob, alicePublic), shared)).toBe(true);
  });

  it("agrees with tweetnacl on random keys: the point, the public key and nacl.box.before", () => {
    for (let i = 0; i < 8; i++) {
      const mine = random(32);
      const theirs = nacl.box.keyPair.fromSecretKey(random(32)).publicKey;
      expect(same(x25519.scalarMultBase(mine), nacl.scalarMult.base(mine))).toBe(true);
      expect(same(x25519.scalarMult(mine, theirs), nacl.scalarMult(mine, theirs))).toBe(true);
      expect(same(x25519.boxBefore(theirs, mine), nacl.box.before(theirs, mine))).toBe(true);
    }
  });

  it("gives the all-zero point for a small-order public key, as tweetnacl does, so that sharedKey refuses it", () => {
    const mine = random(32);
    for (const lowOrder of [
      new Uint8Array(32),
      Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)),
    ]) {
      expect(nacl.scalarMult(mine, lowOrder).every((b) => b === 0)).toBe(true);
      expect(x25519.scalarMult(mine, lowOrder).every((b) => b === 0)).toBe(true);
      expectFlError(() => sharedKey(mine, lowOrder), ErrorCode.InvalidArgument, "low-order point");
    }
  });
});
