/**
 * A custom pipeline stage: each site rounds its delta to float16 precision before sealing, the
 * first step of halving the upload (a codec stage on the coordinator would then carry 2 bytes a
 * value). Rounding keeps 11 significant bits, so a value moves by at most 2⁻¹¹ of itself; values
 * beyond float16's range (65504) are saturated rather than turned into infinities, which the
 * coordinator would refuse. Adds `fp16.maxError` to the training metrics.
 *
 * To ship it: move this file to shared/src/fl/stages/quantise-fp16.ts and add `QUANTISE_FP16` to
 * the `STAGES` list in shared/src/fl/stages/index.ts; a plan then switches it on per phase with
 * `pipeline: [{ stage: "quantise-fp16" }]` (docs/extending.md). Run
 * `npx tsx examples/quantise-fp16-stage.ts` to see what it does to a few values.
 */

import { runUpdateStages, type UpdateDraft, type UpdateStage } from "../shared/src/fl/pipeline.js";
import { defineStage } from "../shared/src/fl/stages/define.js";
import { createManifest } from "../shared/src/weights/index.js";

const FLOAT16_MAX = 65504;
/** Float16's smallest normal exponent: below it, steps are fixed at 2⁻²⁴ (subnormals). */
const FLOAT16_MIN_EXPONENT = -14;

const bits = new Float32Array(1);
const exponentBits = new Uint32Array(bits.buffer);

/** The float16 value nearest to a float32 one (ties away from zero), saturated at ±65504. */
export function roundToFloat16(value: number): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  const magnitude = Math.abs(value);
  if (magnitude >= FLOAT16_MAX) return Math.sign(value) * FLOAT16_MAX;
  // The exponent from the float32 bits is exact, where Math.log2 can be off by one near powers of two.
  bits[0] = magnitude;
  const exponent = Math.max((((exponentBits[0] as number) >>> 23) & 0xff) - 127, FLOAT16_MIN_EXPONENT);
  const step = 2 ** (exponent - 10);
  return Math.sign(value) * Math.min(Math.round(magnitude / step) * step, FLOAT16_MAX);
}

export const QUANTISE_FP16 = defineStage({
  name: "quantise-fp16",
  options: {},
  client: (): UpdateStage => ({
    name: "quantise-fp16",
    apply(update) {
      let maxError = 0;
      const values = update.delta.values.map((v) => {
        const rounded = roundToFloat16(v);
        maxError = Math.max(maxError, Math.abs(rounded - v));
        return rounded;
      });
      return {
        ...update,
        delta: { manifest: update.delta.manifest, values },
        metrics: { ...update.metrics, "fp16.maxError": maxError },
      };
    },
  }),
});

if (import.meta.url === `file://${process.argv[1]}`) {
  const stage = QUANTISE_FP16.client?.({});
  const draft: UpdateDraft = {
    delta: {
      manifest: createManifest([{ name: "w", shape: [5] }]),
      values: Float32Array.from([0.1, -0.0012345, Math.PI, 1e-7, 70000]),
    },
    numExamples: 10,
    metrics: {},
  };
  const out = runUpdateStages(stage ? [stage] : [], draft, { siteId: "st-marys", round: 1, phase: "train" });
  console.log(`before: [${[...draft.delta.values].join(", ")}]`);
  console.log(`after:  [${[...out.delta.values].join(", ")}]`);
  console.log(`largest change: ${out.metrics["fp16.maxError"]} (70000 saturated at float16's maximum)`);
}
