import { ErrorCode, FlError } from "../errors.js";
import type { TensorSharing, TensorSpec, WeightsManifest } from "./types.js";

/** What a caller says about a tensor; offsets and lengths are derived. */
export interface TensorDeclaration {
  readonly name: string;
  readonly shape: readonly number[];
  /** Defaults to "shared". */
  readonly sharing?: TensorSharing;
}

/**
 * Lays the tensors out one after another in the given order. Rejects empty or duplicate names,
 * dimensions that are not non-negative integers, and unknown sharing values. The result is frozen.
 */
export function createManifest(specs: ReadonlyArray<TensorDeclaration>): WeightsManifest {
  const seen = new Set<string>();
  const tensors: TensorSpec[] = [];
  let offset = 0;
  for (const [index, spec] of specs.entries()) {
    if (typeof spec.name !== "string" || spec.name.length === 0) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Tensor ${index} has no name: every tensor needs a unique name`,
      );
    }
    if (seen.has(spec.name)) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Tensor name "${spec.name}" appears twice; names must be unique`,
      );
    }
    seen.add(spec.name);
    if (!Array.isArray(spec.shape)) {
      throw new FlError(ErrorCode.InvalidArgument, `Tensor "${spec.name}" has no shape array`);
    }
    let length = 1;
    for (const dim of spec.shape) {
      if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
        throw new FlError(
          ErrorCode.InvalidArgument,
          `Tensor "${spec.name}" has shape [${spec.shape.join(", ")}]: dimensions must be non-negative integers`,
        );
      }
      length *= dim;
    }
    if (!Number.isSafeInteger(offset + length)) {
      throw new FlError(ErrorCode.InvalidArgument, `Tensor "${spec.name}" makes the weights vector too long`);
    }
    const sharing = spec.sharing ?? "shared";
    if (sharing !== "shared" && sharing !== "local") {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Tensor "${spec.name}" has sharing "${String(sharing)}"; expected "shared" or "local"`,
      );
    }
    tensors.push(
      Object.freeze({ name: spec.name, shape: Object.freeze([...spec.shape]), offset, length, sharing }),
    );
    offset += length;
  }
  return Object.freeze({ tensors: Object.freeze(tensors), totalLength: offset });
}

/**
 * Throws FlError(WeightsShapeMismatch) naming the first tensor where `actual` differs from
 * `expected`: a missing tensor, an extra one, a different position, shape, sharing or layout.
 */
export function assertSameManifest(expected: WeightsManifest, actual: WeightsManifest): void {
  const expectedIndex = indexByName(expected);
  const actualIndex = indexByName(actual);
  const count = Math.max(expected.tensors.length, actual.tensors.length);
  for (let i = 0; i < count; i++) {
    const want = expected.tensors[i];
    const got = actual.tensors[i];
    if (want === undefined) {
      throw mismatch(`unexpected extra tensor "${got?.name}" at position ${i}`);
    }
    if (got === undefined) {
      throw mismatch(`tensor "${want.name}" is missing`);
    }
    if (want.name !== got.name) {
      if (!actualIndex.has(want.name)) throw mismatch(`tensor "${want.name}" is missing`);
      if (!expectedIndex.has(got.name))
        throw mismatch(`unexpected extra tensor "${got.name}" at position ${i}`);
      throw mismatch(
        `tensor "${want.name}" is at position ${actualIndex.get(want.name)} instead of ${i} (tensors are in a different order)`,
      );
    }
    if (!sameShape(want.shape, got.shape)) {
      throw mismatch(
        `tensor "${want.name}" has shape [${got.shape.join(", ")}], expected [${want.shape.join(", ")}]`,
      );
    }
    if (want.sharing !== got.sharing) {
      throw mismatch(`tensor "${want.name}" has sharing "${got.sharing}", expected "${want.sharing}"`);
    }
    if (want.offset !== got.offset || want.length !== got.length) {
      throw mismatch(
        `tensor "${want.name}" is laid out at offset ${got.offset} length ${got.length}, expected offset ${want.offset} length ${want.length}`,
      );
    }
  }
  if (expected.totalLength !== actual.totalLength) {
    throw mismatch(`total length is ${actual.totalLength}, expected ${expected.totalLength}`);
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}

function indexByName(manifest: WeightsManifest): Map<string, number> {
  return new Map(manifest.tensors.map((tensor, i) => [tensor.name, i]));
}

function mismatch(detail: string): FlError {
  return new FlError(ErrorCode.WeightsShapeMismatch, `Weights do not match the model: ${detail}`);
}
