import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import {
  CHUNK_OVERHEAD_BYTES,
  chunkNonce,
  createUploadParams,
  decryptChunk,
  encryptChunk,
  generateIdentity,
  sharedKey,
} from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { chunkBytes, concatChunks, sha256Hex } from "../../../../shared/src/weights/index.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const site = generateIdentity("hospital-a", seededRandom(31));
const coordinator = generateIdentity("coordinator", seededRandom(32));
const eavesdropper = generateIdentity("other", seededRandom(33));
const siteKey = sharedKey(site.encryption.secretKey, coordinator.encryption.publicKey);
const coordinatorKey = sharedKey(coordinator.encryption.secretKey, site.encryption.publicKey);
const { noncePrefix } = createUploadParams(seededRandom(34));
const payload = seededRandom(35)(1000);

function encryptAll(bytes: Uint8Array, prefix = noncePrefix, key = siteKey): Uint8Array[] {
  return chunkBytes(bytes, 256).map((chunk, i) => encryptChunk(chunk, i, prefix, key));
}

describe("sharedKey", () => {
  it("gives both sides the same key, equal to nacl.box.before", () => {
    expect(siteKey).toEqual(coordinatorKey);
    expect(siteKey).toEqual(nacl.box.before(coordinator.encryption.publicKey, site.encryption.secretKey));
    expect(sharedKey(eavesdropper.encryption.secretKey, coordinator.encryption.publicKey)).not.toEqual(
      siteKey,
    );
  });

  it("refuses keys of the wrong size and a low-order public key", () => {
    expectFlError(
      () => sharedKey(new Uint8Array(31), coordinator.encryption.publicKey),
      ErrorCode.InvalidArgument,
      "secret key",
    );
    expectFlError(
      () => sharedKey(site.encryption.secretKey, new Uint8Array(33)),
      ErrorCode.InvalidArgument,
      "public key",
    );
    expectFlError(
      () => sharedKey(site.encryption.secretKey, new Uint8Array(32)),
      ErrorCode.InvalidArgument,
      "low-order",
    );
    const one = new Uint8Array(32);
    one[0] = 1;
    expectFlError(() => sharedKey(site.encryption.secretKey, one), ErrorCode.InvalidArgument, "low-order");
  });
});

describe("encryptChunk / decryptChunk", () => {
  it("round-trips a payload chunk by chunk; the hash of the reassembled plaintext matches", () => {
    const encrypted = encryptAll(payload);
    expect(encrypted.map((c) => c.length)).toEqual([256, 256, 256, 232].map((n) => n + CHUNK_OVERHEAD_BYTES));
    const plain = encrypted.map((c, i) => decryptChunk(c, i, noncePrefix, coordinatorKey));
    const joined = concatChunks(plain, payload.length);
    expect(sha256Hex(joined)).toBe(sha256Hex(payload));
  });

  it("hides the plaintext", () => {
    const zeros = new Uint8Array(64);
    const cipher = encryptChunk(zeros, 0, noncePrefix, siteKey);
    expect(cipher.subarray(CHUNK_OVERHEAD_BYTES).some((b) => b !== 0)).toBe(true);
  });

  it("is XSalsa20-Poly1305 under nacl.box with the chunk nonce", () => {
    const chunk = payload.subarray(0, 100);
    const viaBox = nacl.box(
      chunk,
      chunkNonce(noncePrefix, 7),
      coordinator.encryption.publicKey,
      site.encryption.secretKey,
    );
    expect(encryptChunk(chunk, 7, noncePrefix, siteKey)).toEqual(viaBox);
  });

  it("round-trips an empty chunk", () => {
    const cipher = encryptChunk(new Uint8Array(0), 0, noncePrefix, siteKey);
    expect(cipher).toHaveLength(CHUNK_OVERHEAD_BYTES);
    expect(decryptChunk(cipher, 0, noncePrefix, coordinatorKey)).toHaveLength(0);
  });

  it.each([0, 15, 16, 100, 247])(
    "rejects a ciphertext with byte %i flipped, naming the chunk",
    (position) => {
      const cipher = Uint8Array.from(encryptAll(payload)[3] ?? []);
      expect(position).toBeLessThan(cipher.length);
      cipher[position] = (cipher[position] ?? 0) ^ 0x01;
      expectFlError(
        () => decryptChunk(cipher, 3, noncePrefix, coordinatorKey),
        ErrorCode.DecryptionFailed,
        "Chunk 3",
      );
    },
  );

  it("rejects a chunk moved to another index, or two chunks swapped", () => {
    const [c0, c1] = encryptAll(payload);
    expectFlError(
      () => decryptChunk(c1 as Uint8Array, 0, noncePrefix, coordinatorKey),
      ErrorCode.DecryptionFailed,
      "Chunk 0",
    );
    expectFlError(
      () => decryptChunk(c0 as Uint8Array, 1, noncePrefix, coordinatorKey),
      ErrorCode.DecryptionFailed,
      "Chunk 1",
    );
  });

  it("rejects a chunk from another upload (different nonce prefix)", () => {
    const otherPrefix = createUploadParams(seededRandom(36)).noncePrefix;
    const [c0] = encryptAll(payload, otherPrefix);
    expectFlError(
      () => decryptChunk(c0 as Uint8Array, 0, noncePrefix, coordinatorKey),
      ErrorCode.DecryptionFailed,
    );
  });

  it("rejects a chunk meant for another recipient, and a wrong key", () => {
    const forOther = sharedKey(site.encryption.secretKey, eavesdropper.encryption.publicKey);
    const [c0] = encryptAll(payload, noncePrefix, forOther);
    expectFlError(
      () => decryptChunk(c0 as Uint8Array, 0, noncePrefix, coordinatorKey),
      ErrorCode.DecryptionFailed,
    );
    const [mine] = encryptAll(payload);
    const eavesdropperKey = sharedKey(eavesdropper.encryption.secretKey, site.encryption.publicKey);
    expectFlError(
      () => decryptChunk(mine as Uint8Array, 0, noncePrefix, eavesdropperKey),
      ErrorCode.DecryptionFailed,
    );
  });

  it("rejects a ciphertext shorter than the tag, or truncated", () => {
    expectFlError(
      () => decryptChunk(new Uint8Array(5), 2, noncePrefix, coordinatorKey),
      ErrorCode.DecryptionFailed,
      "Chunk 2",
    );
    const [c0] = encryptAll(payload);
    expectFlError(
      () => decryptChunk((c0 as Uint8Array).subarray(0, 100), 0, noncePrefix, coordinatorKey),
      ErrorCode.DecryptionFailed,
    );
  });

  it("rejects a bad key size, nonce prefix or index as invalid arguments", () => {
    expectFlError(
      () => encryptChunk(payload, 0, noncePrefix, new Uint8Array(16)),
      ErrorCode.InvalidArgument,
      "32 bytes",
    );
    expectFlError(() => encryptChunk(payload, 0, "c2hvcnQ=", siteKey), ErrorCode.InvalidArgument, "16 bytes");
    expectFlError(() => encryptChunk(payload, -1, noncePrefix, siteKey), ErrorCode.InvalidArgument, "index");
    expectFlError(
      () => decryptChunk(payload, 1.5, noncePrefix, coordinatorKey),
      ErrorCode.InvalidArgument,
      "index",
    );
  });
});

describe("chunkNonce and createUploadParams", () => {
  it("is the 16-byte prefix followed by the u64 big-endian index", () => {
    const prefix = Buffer.from(Array.from({ length: 16 }, (_, i) => i + 1)).toString("base64");
    const nonce = chunkNonce(prefix, 0x0102030405);
    expect(Array.from(nonce)).toEqual([
      ...Array.from({ length: 16 }, (_, i) => i + 1),
      0x00,
      0x00,
      0x00,
      0x01,
      0x02,
      0x03,
      0x04,
      0x05,
    ]);
    expect(Array.from(chunkNonce(prefix, Number.MAX_SAFE_INTEGER).subarray(16))).toEqual([
      0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
  });

  it("gives a distinct nonce to every chunk", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(Buffer.from(chunkNonce(noncePrefix, i)).toString("hex"));
    seen.add(Buffer.from(chunkNonce(noncePrefix, 2 ** 32)).toString("hex"));
    expect(seen.size).toBe(2001);
  });

  it("makes a hex upload id and a 16-byte base64 prefix, fresh each time", () => {
    const a = createUploadParams();
    const b = createUploadParams();
    expect(a.uploadId).toMatch(/^[0-9a-f]{32}$/);
    expect(Buffer.from(a.noncePrefix, "base64")).toHaveLength(16);
    expect(a.uploadId).not.toBe(b.uploadId);
    expect(a.noncePrefix).not.toBe(b.noncePrefix);
    expect(createUploadParams(seededRandom(1))).toEqual(createUploadParams(seededRandom(1)));
  });
});
