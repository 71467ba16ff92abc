import type { ModelWeights } from "./types.js";

/** What `carryOverWeights` did. */
export interface CarryOver {
  /** `to` with the carried tensors' values replaced (a new values array; the manifest is `to`'s). */
  readonly weights: ModelWeights;
  /** Tensors copied from `from` (same name and shape, selected). */
  readonly copied: string[];
  /** Tensors of `to` left as they were: absent from `from`, another shape, or not selected. */
  readonly kept: string[];
}

/**
 * Starts one phase's model from another's: copies every tensor that both have under the same
 * name and shape (e.g. `enc.*` and `dec.*` from inpainting into multi-task, `enc.*` from MoCo),
 * optionally restricted by `select`; the rest of `to` keeps its values (its initialisation).
 * Pure.
 */
export function carryOverWeights(
  from: ModelWeights,
  to: ModelWeights,
  select: (name: string) => boolean = () => true,
): CarryOver {
  const sources = new Map(from.manifest.tensors.map((t) => [t.name, t]));
  const values = Float32Array.from(to.values);
  const copied: string[] = [];
  const kept: string[] = [];
  for (const target of to.manifest.tensors) {
    const source = sources.get(target.name);
    if (source && select(target.name) && source.shape.join("x") === target.shape.join("x")) {
      values.set(from.values.subarray(source.offset, source.offset + source.length), target.offset);
      copied.push(target.name);
    } else {
      kept.push(target.name);
    }
  }
  return { weights: { manifest: to.manifest, values }, copied, kept };
}
