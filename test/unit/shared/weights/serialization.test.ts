import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import {
  createManifest,
  deserializeWeights,
  type ModelWeights,
  serializeWeights,
} from "../../../../shared/src/weights/index.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const manifest = createManifest([
  { name: "w", shape: [2, 2] },
  { name: "bn/var", shape: [2], sharing: "local" },
]);
const weights: ModelWeights = { manifest, values: new Float32Array([1.5, -2, 0.25, 3e-39, -0, 1e30]) };

/** A second, independent writer of the format, so malformed variants can be built field by field. */
function buildBlob(options: {
  header: string;
  valueBytes: Uint8Array;
  magic?: string;
  headerLength?: number;
  padByte?: number;
}): Uint8Array {
  const header = Buffer.from(options.header, "utf8");
  const prefix = 8 + header.length;
  const pad = (4 - (prefix % 4)) % 4;
  const out = Buffer.alloc(prefix + pad + options.valueBytes.length);
  out.write(options.magic ?? "FLW1", 0, "latin1");
  out.writeUInt32LE(options.headerLength ?? header.length, 4);
  header.copy(out, 8);
  out.fill(options.padByte ?? 0, prefix, prefix + pad);
  out.set(options.valueBytes, prefix + pad);
  return new Uint8Array(out);
}

function floatBytes(values: number[]): Uint8Array {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    out.writeFloatLE(v, i * 4);
  });
  return new Uint8Array(out);
}

const validHeader = JSON.stringify({
  tensors: [{ name: "w", shape: [2], offset: 0, length: 2, sharing: "shared" }],
  totalLength: 2,
});

/** The valid header with trailing spaces so that 2 padding bytes follow it. */
function headerNeedingPadding(): string {
  let header = validHeader;
  while ((8 + Buffer.byteLength(header)) % 4 !== 2) header += " ";
  return header;
}

describe("serializeWeights", () => {
  it("writes magic, header length, JSON manifest, zero padding and float32 LE values", () => {
    const small: ModelWeights = {
      manifest: createManifest([{ name: "w", shape: [2] }]),
      values: new Float32Array([1.5, -2]),
    };
    const bytes = serializeWeights(small);
    const buffer = Buffer.from(bytes);
    expect(buffer.subarray(0, 4).toString("latin1")).toBe("FLW1");
    const headerLength = buffer.readUInt32LE(4);
    const header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString("utf8"));
    expect(header).toEqual({
      tensors: [{ name: "w", shape: [2], offset: 0, length: 2, sharing: "shared" }],
      totalLength: 2,
    });
    const dataStart = Math.ceil((8 + headerLength) / 4) * 4;
    expect(buffer.subarray(8 + headerLength, dataStart).every((b) => b === 0)).toBe(true);
    // 1.5 = 0x3fc00000, -2 = 0xc0000000, little-endian.
    expect([...buffer.subarray(dataStart)]).toEqual([0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
    expect(bytes).toEqual(buildBlob({ header: JSON.stringify(header), valueBytes: floatBytes([1.5, -2]) }));
  });

  it("rejects weights whose values do not match the manifest length", () => {
    expectFlError(
      () => serializeWeights({ manifest, values: new Float32Array(5) }),
      ErrorCode.InvalidArgument,
      "5 values",
      "6",
    );
  });

  it("serialises only the view of a Float32Array that is a subarray", () => {
    const backing = new Float32Array([9, 9, 1.5, -2, 9]);
    const view = backing.subarray(2, 4);
    const small = { manifest: createManifest([{ name: "w", shape: [2] }]), values: view };
    expect(Array.from(deserializeWeights(serializeWeights(small)).values)).toEqual([1.5, -2]);
  });
});

describe("deserializeWeights", () => {
  it("round-trips manifest and bit-exact values, including -0, subnormals and NaN", () => {
    const withNaN: ModelWeights = { manifest, values: Float32Array.from(weights.values) };
    withNaN.values[5] = Number.NaN;
    const back = deserializeWeights(serializeWeights(withNaN));
    expect(back.manifest).toEqual(manifest);
    expect(new Uint8Array(back.values.buffer)).toEqual(new Uint8Array(withNaN.values.buffer));
    expect(Object.is(back.values[4], -0)).toBe(true);
  });

  it("round-trips an empty model", () => {
    const empty: ModelWeights = { manifest: createManifest([]), values: new Float32Array(0) };
    const back = deserializeWeights(serializeWeights(empty));
    expect(back.manifest.totalLength).toBe(0);
    expect(back.values.length).toBe(0);
  });

  it("reads a blob that sits at an odd offset and returns an independent, aligned copy", () => {
    const blob = serializeWeights(weights);
    const holder = new Uint8Array(blob.length + 3);
    holder.set(blob, 1);
    const view = holder.subarray(1, 1 + blob.length);
    const back = deserializeWeights(view);
    expect(Array.from(back.values)).toEqual(Array.from(weights.values));
    expect(back.values.byteOffset).toBe(0);
    holder.fill(0);
    expect(back.values[0]).toBe(1.5);
  });

  it("with adopt, reads the values in place: a view of the blob's own buffer, no copy", () => {
    const blob = serializeWeights(weights);
    const back = deserializeWeights(blob, { adopt: true });
    expect(Array.from(back.values)).toEqual(Array.from(weights.values));
    expect(back.values.buffer).toBe(blob.buffer);
    expect(back.values.byteOffset + back.values.byteLength).toBe(blob.byteLength);
    blob.fill(0, blob.length - 4 * weights.values.length);
    expect(back.values[0]).toBe(0);
  });

  it("with adopt, still copies a blob that is not 4-byte aligned in its buffer", () => {
    const blob = serializeWeights(weights);
    const holder = new Uint8Array(blob.length + 3);
    holder.set(blob, 1);
    const back = deserializeWeights(holder.subarray(1, 1 + blob.length), { adopt: true });
    expect(Array.from(back.values)).toEqual(Array.from(weights.values));
    expect(back.values.buffer).not.toBe(holder.buffer);
  });

  it("accepts the independently built blob", () => {
    const back = deserializeWeights(buildBlob({ header: validHeader, valueBytes: floatBytes([0.5, 4]) }));
    expect(back.manifest.tensors[0]?.name).toBe("w");
    expect(Array.from(back.values)).toEqual([0.5, 4]);
  });

  it("rejects input shorter than the prefix", () => {
    expectFlError(
      () => deserializeWeights(new Uint8Array([0x46, 0x4c])),
      ErrorCode.InvalidArgument,
      "truncated",
    );
    expectFlError(() => deserializeWeights(new Uint8Array(0)), ErrorCode.InvalidArgument, "truncated");
  });

  it("rejects a bad magic", () => {
    const blob = buildBlob({ header: validHeader, valueBytes: floatBytes([1, 2]), magic: "FLW2" });
    expectFlError(() => deserializeWeights(blob), ErrorCode.InvalidArgument, "magic", "FLW1");
  });

  it("rejects a header length that runs past the end", () => {
    const blob = buildBlob({ header: validHeader, valueBytes: floatBytes([1, 2]), headerLength: 10_000 });
    expectFlError(() => deserializeWeights(blob), ErrorCode.InvalidArgument, "truncated", "10000");
  });

  it("rejects header bytes that are not JSON", () => {
    const blob = buildBlob({ header: "{not json", valueBytes: new Uint8Array(0) });
    expectFlError(() => deserializeWeights(blob), ErrorCode.InvalidArgument, "header JSON invalid");
  });

  it.each([
    ["an array", "[]", "tensors"],
    ["no tensors", '{"totalLength":0}', "tensors"],
    ["a tensor that is not an object", '{"tensors":[1],"totalLength":1}', "tensors[0]"],
    [
      "a tensor without a name",
      '{"tensors":[{"shape":[1],"offset":0,"length":1,"sharing":"shared"}],"totalLength":1}',
      "name",
    ],
    [
      "a shape that is not an array",
      '{"tensors":[{"name":"w","shape":3,"offset":0,"length":3,"sharing":"shared"}],"totalLength":3}',
      "shape",
    ],
    [
      "a negative dimension",
      '{"tensors":[{"name":"w","shape":[-1],"offset":0,"length":1,"sharing":"shared"}],"totalLength":1}',
      "non-negative",
    ],
    [
      "an unknown sharing",
      '{"tensors":[{"name":"w","shape":[1],"offset":0,"length":1,"sharing":"public"}],"totalLength":1}',
      "sharing",
    ],
    [
      "a wrong offset",
      '{"tensors":[{"name":"a","shape":[1],"offset":0,"length":1,"sharing":"shared"},{"name":"w","shape":[1],"offset":2,"length":1,"sharing":"shared"}],"totalLength":2}',
      "offset 2",
    ],
    [
      "a wrong length",
      '{"tensors":[{"name":"w","shape":[2],"offset":0,"length":3,"sharing":"shared"}],"totalLength":2}',
      "length 3",
    ],
    [
      "a wrong total",
      '{"tensors":[{"name":"w","shape":[2],"offset":0,"length":2,"sharing":"shared"}],"totalLength":3}',
      "totalLength",
    ],
    [
      "a duplicate name",
      '{"tensors":[{"name":"w","shape":[1],"offset":0,"length":1,"sharing":"shared"},{"name":"w","shape":[1],"offset":1,"length":1,"sharing":"shared"}],"totalLength":2}',
      "twice",
    ],
  ])("rejects a header with %s", (_what, header, fragment) => {
    const blob = buildBlob({ header, valueBytes: floatBytes([1, 2]) });
    expectFlError(() => deserializeWeights(blob), ErrorCode.InvalidArgument, "header JSON invalid", fragment);
  });

  it("rejects non-zero padding", () => {
    const header = headerNeedingPadding();
    const blob = buildBlob({ header, valueBytes: floatBytes([1, 2]), padByte: 7 });
    expectFlError(() => deserializeWeights(blob), ErrorCode.InvalidArgument, "padding");
    expect(() => deserializeWeights(buildBlob({ header, valueBytes: floatBytes([1, 2]) }))).not.toThrow();
  });

  it("rejects missing padding at the very end", () => {
    const header = headerNeedingPadding();
    const full = buildBlob({ header, valueBytes: new Uint8Array(0) });
    const cut = full.subarray(0, 8 + Buffer.byteLength(header));
    expect(cut.length).toBeLessThan(full.length);
    expectFlError(() => deserializeWeights(cut), ErrorCode.InvalidArgument, "truncated");
  });

  it("rejects truncated values and trailing bytes with a length mismatch", () => {
    const blob = serializeWeights(weights);
    expectFlError(
      () => deserializeWeights(blob.subarray(0, blob.length - 1)),
      ErrorCode.InvalidArgument,
      "length mismatch",
      "truncated",
    );
    expectFlError(
      () => deserializeWeights(blob.subarray(0, blob.length - 4)),
      ErrorCode.InvalidArgument,
      "6 float32 values",
      "20 bytes",
    );
    const longer = new Uint8Array(blob.length + 4);
    longer.set(blob);
    expectFlError(() => deserializeWeights(longer), ErrorCode.InvalidArgument, "length mismatch", "28 bytes");
  });
});
