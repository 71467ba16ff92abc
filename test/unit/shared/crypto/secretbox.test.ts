import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import {
  chunkNonce,
  createUploadParams,
  decryptChunk,
  encryptChunk,
} from "../../../../shared/src/crypto/index.js";
import { referenceSecretbox, secretbox } from "../../../../shared/src/crypto/secretbox.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const random = seededRandom(77);
// 0 bytes, around Salsa20's 64-byte block, around the protocol's 1 MiB chunk.
const SIZES = [0, 1, 15, 16, 63, 64, 65, 1000, 4096 + 3, (1 << 20) - 1, 1 << 20];

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
      expect(referenceSecretbox.open(b, n, k)).toBeNull();
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
