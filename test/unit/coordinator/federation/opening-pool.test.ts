import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { OpeningPool } from "../../../../coordinator/src/federation/opening-pool.js";
import { createUploadParams, encryptChunk } from "../../../../shared/src/crypto/index.js";
import { ErrorCode, type FlError } from "../../../../shared/src/errors.js";
import { chunkBytes } from "../../../../shared/src/weights/index.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";

const random = seededRandom(5);
const key = random(32);
const pool = new OpeningPool(2);
const uploads: { drop(): void }[] = [];
afterAll(() => {
  for (const upload of uploads) upload.drop();
});

function sealed(bytes: number, chunkSize: number) {
  const plain = random(bytes);
  const { noncePrefix } = createUploadParams(random);
  const chunks = chunkBytes(plain, chunkSize).map((chunk, i) => encryptChunk(chunk, i, noncePrefix, key));
  return { plain, noncePrefix, chunks };
}

describe("OpeningPool", () => {
  it("opens uploads on its threads: the plaintext and its sha256, the ciphertexts moved, not copied", async () => {
    const uploadsIn = [sealed(100_000, 4096), sealed(5_000, 1000), sealed(0, 1)];
    const openings = uploadsIn.map(({ plain, noncePrefix }) =>
      pool.open({ key, noncePrefix, plaintextBytes: plain.length, onFailure: () => {} }),
    );
    uploads.push(...openings);
    expect(pool.reservedBytes()).toBe(105_000);
    for (const [n, { chunks }] of uploadsIn.entries())
      for (const [i, chunk] of chunks.entries()) {
        openings[n]!.add(i, chunk);
        // Transferred to the worker: this thread's view of it is empty now.
        expect(chunk.byteLength).toBe(0);
      }
    const opened = await Promise.all(openings.map((opening) => opening.finish()));
    for (const [n, { bytes, sha256 }] of opened.entries()) {
      const { plain } = uploadsIn[n]!;
      expect(Buffer.from(bytes).equals(Buffer.from(plain))).toBe(true);
      expect(sha256).toBe(createHash("sha256").update(plain).digest("hex"));
    }
    expect(pool.reservedBytes()).toBe(0);
  });

  it("reports a chunk that fails to open as soon as the thread has tried it, and at finish", async () => {
    const { plain, noncePrefix, chunks } = sealed(4000, 1000);
    chunks[1]![7]! ^= 1;
    const failures: FlError[] = [];
    let heard: () => void = () => {};
    const told = new Promise<void>((resolve) => {
      heard = resolve;
    });
    const opening = pool.open({
      key,
      noncePrefix,
      plaintextBytes: plain.length,
      onFailure: (error) => {
        failures.push(error);
        heard();
      },
    });
    opening.add(0, chunks[0]!);
    opening.add(1, chunks[1]!);
    // Told without any further call: the transport can answer the stream at once.
    await told;
    expect(opening.failure()?.code).toBe(ErrorCode.DecryptionFailed);
    await expect(opening.finish()).rejects.toMatchObject({ code: ErrorCode.DecryptionFailed });
    expect(pool.reservedBytes()).toBe(0);
    expect(failures.map((e) => [e.code, e.message])).toEqual([
      [
        ErrorCode.DecryptionFailed,
        "Chunk 1 failed authentication: it was altered, sent at another position, or encrypted for a different key",
      ],
    ]);
  });

  it("frees a dropped upload's buffer and copies a chunk that shares its buffer", async () => {
    const { plain, noncePrefix, chunks } = sealed(3000, 1000);
    const dropped = pool.open({ key, noncePrefix, plaintextBytes: plain.length, onFailure: () => {} });
    expect(pool.reservedBytes()).toBe(3000);
    dropped.drop();
    expect(pool.reservedBytes()).toBe(0);
    const opening = pool.open({ key, noncePrefix, plaintextBytes: plain.length, onFailure: () => {} });
    const shared = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const [i, chunk] of chunks.entries()) {
      shared.set(chunk, at);
      opening.add(i, shared.subarray(at, at + chunk.length));
      at += chunk.length;
    }
    expect(shared.byteLength).toBe(at);
    const { bytes } = await opening.finish();
    expect(Buffer.from(bytes).equals(Buffer.from(plain))).toBe(true);
  });

  it("refuses a pool of no threads", () => {
    expect(() => new OpeningPool(0)).toThrow(/positive integer/);
  });
});
