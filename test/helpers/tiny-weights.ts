import { createManifest } from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";

/** A 2-tensor model small enough to reason about by hand: w [2,2] and b [2] = 6 parameters. */
export function tinyWeights(values: number[] = [1, 2, 3, 4, 5, 6]): ModelWeights {
  return {
    manifest: createManifest([
      { name: "w", shape: [2, 2] },
      { name: "b", shape: [2] },
    ]),
    values: Float32Array.from(values),
  };
}
