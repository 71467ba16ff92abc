import { ErrorCode, FlError } from "../errors.js";
import { createManifest, type TensorDeclaration } from "./manifest.js";
import type { ModelWeights, WeightsManifest } from "./types.js";

/**
 * Wire and file format of a weights blob:
 *   "FLW1" | u32 LE header length | header (UTF-8 JSON manifest) | zero padding to 4 bytes | float32 LE values
 * The padding lets a reader view the values in place when the blob itself is 4-byte aligned.
 */
const MAGIC = new Uint8Array([0x46, 0x4c, 0x57, 0x31]); // "FLW1"
const PREFIX_BYTES = 8;
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function serializeWeights(weights: ModelWeights): Uint8Array {
  const { manifest, values } = weights;
  if (values.length !== manifest.totalLength) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `Cannot serialise weights: ${values.length} values but the manifest declares ${manifest.totalLength}`,
    );
  }
  const header = headerBytes(manifest);
  const dataStart = alignTo4(PREFIX_BYTES + header.length);
  const out = new Uint8Array(dataStart + values.length * 4);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, header.length, true);
  out.set(header, PREFIX_BYTES);
  if (HOST_IS_LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), dataStart);
  } else {
    for (let i = 0; i < values.length; i++) view.setFloat32(dataStart + i * 4, values[i] as number, true);
  }
  return out;
}

/** The exact length of what serializeWeights writes for weights laid out by `manifest`. */
export function serializedLength(manifest: WeightsManifest): number {
  return alignTo4(PREFIX_BYTES + headerBytes(manifest).length) + manifest.totalLength * 4;
}

function headerBytes(manifest: WeightsManifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(manifestToJson(manifest)));
}

/**
 * Parses a blob written by serializeWeights. The values are copied into a fresh, aligned
 * Float32Array, unless `adopt` is set: then, on a little-endian host with the blob 4-byte
 * aligned in its buffer, they are a view of `bytes` itself (no copy: an update of 25M
 * parameters is 100 MB the coordinator need not hold twice), and the caller gives up `bytes`.
 */
export function deserializeWeights(bytes: Uint8Array, options: { adopt?: boolean } = {}): ModelWeights {
  if (bytes.length < PREFIX_BYTES) {
    throw invalid(`truncated: ${bytes.length} bytes, the prefix alone needs ${PREFIX_BYTES}`);
  }
  if (!MAGIC.every((byte, i) => bytes[i] === byte)) {
    throw invalid(`bad magic ${describeMagic(bytes.subarray(0, 4))}, expected "FLW1" (not a weights blob)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (PREFIX_BYTES + headerLength > bytes.length) {
    throw invalid(
      `truncated: header declares ${headerLength} bytes but only ${bytes.length - PREFIX_BYTES} follow`,
    );
  }
  const headerText = new TextDecoder("utf-8", { fatal: false }).decode(
    bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength),
  );
  let headerJson: unknown;
  try {
    headerJson = JSON.parse(headerText);
  } catch (error) {
    throw invalid(`header JSON invalid: ${error instanceof Error ? error.message : String(error)}`);
  }
  const manifest = manifestFromJson(headerJson);
  const dataStart = alignTo4(PREFIX_BYTES + headerLength);
  if (dataStart > bytes.length) {
    throw invalid(`truncated: the padding after the header is missing`);
  }
  for (let i = PREFIX_BYTES + headerLength; i < dataStart; i++) {
    if (bytes[i] !== 0) throw invalid(`padding byte at offset ${i} is not zero`);
  }
  const expectedBytes = manifest.totalLength * 4;
  const actualBytes = bytes.length - dataStart;
  if (actualBytes !== expectedBytes) {
    throw invalid(
      `length mismatch: the manifest declares ${manifest.totalLength} float32 values (${expectedBytes} bytes) but ${actualBytes} bytes follow the header${actualBytes < expectedBytes ? " (truncated)" : ""}`,
    );
  }
  if (options.adopt && HOST_IS_LITTLE_ENDIAN && (bytes.byteOffset + dataStart) % 4 === 0)
    return {
      manifest,
      values: new Float32Array(bytes.buffer, bytes.byteOffset + dataStart, manifest.totalLength),
    };
  const values = new Float32Array(manifest.totalLength);
  if (HOST_IS_LITTLE_ENDIAN) {
    new Uint8Array(values.buffer).set(bytes.subarray(dataStart));
  } else {
    for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(dataStart + i * 4, true);
  }
  return { manifest, values };
}

function manifestToJson(manifest: WeightsManifest): unknown {
  return {
    tensors: manifest.tensors.map(({ name, shape, offset, length, sharing }) => ({
      name,
      shape,
      offset,
      length,
      sharing,
    })),
    totalLength: manifest.totalLength,
  };
}

/** Rebuilds the manifest with createManifest and checks the stored layout agrees with it. */
function manifestFromJson(json: unknown): WeightsManifest {
  if (!isRecord(json) || !Array.isArray(json.tensors)) {
    throw invalid(`header JSON invalid: expected an object with a "tensors" array`);
  }
  const declarations: TensorDeclaration[] = json.tensors.map((tensor: unknown, i: number) => {
    if (!isRecord(tensor)) throw invalid(`header JSON invalid: tensors[${i}] is not an object`);
    if (typeof tensor.name !== "string")
      throw invalid(`header JSON invalid: tensors[${i}].name is not a string`);
    if (!Array.isArray(tensor.shape))
      throw invalid(`header JSON invalid: tensors[${i}].shape is not an array`);
    if (tensor.sharing !== "shared" && tensor.sharing !== "local") {
      throw invalid(`header JSON invalid: tensors[${i}].sharing must be "shared" or "local"`);
    }
    return { name: tensor.name, shape: tensor.shape as number[], sharing: tensor.sharing };
  });
  let manifest: WeightsManifest;
  try {
    manifest = createManifest(declarations);
  } catch (error) {
    throw invalid(`header JSON invalid: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const [i, tensor] of manifest.tensors.entries()) {
    const stored = json.tensors[i] as Record<string, unknown>;
    if (stored.offset !== tensor.offset || stored.length !== tensor.length) {
      throw invalid(
        `header JSON invalid: tensor "${tensor.name}" declares offset ${String(stored.offset)} length ${String(stored.length)}, its shape implies offset ${tensor.offset} length ${tensor.length}`,
      );
    }
  }
  if (json.totalLength !== manifest.totalLength) {
    throw invalid(
      `header JSON invalid: totalLength is ${String(json.totalLength)}, the tensors add up to ${manifest.totalLength}`,
    );
  }
  return manifest;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function alignTo4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

function describeMagic(bytes: Uint8Array): string {
  return `0x${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function invalid(detail: string): FlError {
  return new FlError(ErrorCode.InvalidArgument, `Invalid weights blob: ${detail}`);
}
