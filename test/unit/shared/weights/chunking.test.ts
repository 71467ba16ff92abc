import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import {
  chunkBytes,
  concatChunks,
  DEFAULT_CHUNK_BYTES,
  sha256Hex,
} from "../../../../shared/src/weights/index.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

describe("chunkBytes", () => {
  it("splits an exact multiple into full chunks", () => {
    const chunks = chunkBytes(bytes(12), 4);
    expect(chunks.map((c) => c.length)).toEqual([4, 4, 4]);
    expect(Array.from(chunks[1] ?? [])).toEqual(Array.from(bytes(12).subarray(4, 8)));
  });

  it("makes the last chunk short", () => {
    expect(chunkBytes(bytes(10), 4).map((c) => c.length)).toEqual([4, 4, 2]);
  });

  it("gives no chunks for empty input and one for a single byte", () => {
    expect(chunkBytes(new Uint8Array(0), 4)).toEqual([]);
    const one = chunkBytes(new Uint8Array([42]), 4);
    expect(one).toHaveLength(1);
    expect(Array.from(one[0] ?? [])).toEqual([42]);
  });

  it("returns views into the input, not copies", () => {
    const input = bytes(8);
    const [first] = chunkBytes(input, 4);
    expect(first?.buffer).toBe(input.buffer);
    input[0] = 200;
    expect(first?.[0]).toBe(200);
  });

  it("uses 1 MiB chunks by default", () => {
    expect(DEFAULT_CHUNK_BYTES).toBe(1_048_576);
    const chunks = chunkBytes(new Uint8Array(DEFAULT_CHUNK_BYTES * 2 + 5));
    expect(chunks.map((c) => c.length)).toEqual([DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_BYTES, 5]);
  });

  it.each([0, -1, 1.5, Number.NaN])("rejects chunk size %s", (size) => {
    expectFlError(() => chunkBytes(bytes(4), size), ErrorCode.InvalidArgument, "Chunk size");
  });
});

describe("concatChunks", () => {
  it("reassembles what chunkBytes split, for sizes around the chunk boundary", () => {
    for (const n of [0, 1, 3, 4, 5, 8, 9]) {
      const input = bytes(n);
      const out = concatChunks(chunkBytes(input, 4), n);
      expect(Array.from(out)).toEqual(Array.from(input));
      expect(out.buffer).not.toBe(input.buffer);
    }
  });

  it("rejects a total that differs from the expected one", () => {
    const chunks = chunkBytes(bytes(10), 4);
    expectFlError(() => concatChunks(chunks, 11), ErrorCode.InvalidArgument, "10 bytes", "3 chunks", "11");
    expectFlError(() => concatChunks(chunks.slice(0, 2), 10), ErrorCode.InvalidArgument, "8 bytes");
  });

  it("gives an empty buffer for no chunks", () => {
    expect(concatChunks([]).length).toBe(0);
  });
});

describe("sha256Hex", () => {
  it("matches the FIPS 180-2 test vectors", () => {
    expect(sha256Hex(new Uint8Array(0))).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    expect(sha256Hex(new TextEncoder().encode("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("hashes a list of chunks as their concatenation", () => {
    const input = bytes(1000);
    expect(sha256Hex(chunkBytes(input, 64))).toBe(sha256Hex(input));
    expect(sha256Hex([])).toBe(sha256Hex(new Uint8Array(0)));
  });

  it("hashes only the view of a subarray", () => {
    const input = new TextEncoder().encode("xxabcxx");
    expect(sha256Hex(input.subarray(2, 5))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});
