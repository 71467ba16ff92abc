/**
 * A custom pipeline stage: the coordinator refuses any update whose L2 norm exceeds a bound, a
 * cheap defence against a site that sends a scaled-up (boosted) delta. It runs on each verified
 * update before the strategy folds it in; the verdict names the stage and the norm.
 *
 * To ship it: move this file to shared/src/fl/stages/norm-bound.ts and add `NORM_BOUND` to the
 * `STAGES` list in shared/src/fl/stages/index.ts; a plan then switches it on per phase with
 * `pipeline: [{ stage: "norm-bound", maxNorm: 5 }]` (docs/extending.md). Run
 * `npx tsx examples/norm-bound-stage.ts` to see it accept one update and refuse another.
 */
import { z } from "zod";
import { ErrorCode, errorMessage, FlError } from "../shared/src/errors.js";
import { runUpdateStages, type UpdateDraft, type UpdateStage } from "../shared/src/fl/pipeline.js";
import { l2Norm } from "../shared/src/fl/stages/clip-l2.js";
import { defineStage } from "../shared/src/fl/stages/define.js";
import { createManifest } from "../shared/src/weights/index.js";

export const NORM_BOUND = defineStage({
  name: "norm-bound",
  options: {
    /** Largest L2 norm of an update the coordinator accepts. */
    maxNorm: z.number().positive(),
  },
  coordinator: ({ maxNorm }): UpdateStage => ({
    name: "norm-bound",
    apply(update, context) {
      const norm = l2Norm(update.delta.values);
      if (norm > maxNorm)
        throw new FlError(
          ErrorCode.InvalidArgument,
          `norm-bound: the update of "${context.siteId}" has L2 norm ${norm.toFixed(3)}, above the plan's bound ${maxNorm}`,
        );
      return update;
    },
  }),
});

if (import.meta.url === `file://${process.argv[1]}`) {
  const stages = [
    NORM_BOUND.coordinator?.(NORM_BOUND.config.parse({ stage: "norm-bound", maxNorm: 5 })),
  ].filter((s): s is UpdateStage => s !== undefined);
  const draft = (values: number[]): UpdateDraft => ({
    delta: {
      manifest: createManifest([{ name: "w", shape: [2], sharing: "shared" }]),
      values: Float32Array.from(values),
    },
    numExamples: 10,
    metrics: {},
  });
  const context = { siteId: "st-marys", round: 1, phase: "train" };
  runUpdateStages(stages, draft([3, 4]), context);
  console.log("norm 5: accepted");
  try {
    runUpdateStages(stages, draft([30, 40]), context);
  } catch (error) {
    console.log(`norm 50: ${errorMessage(error)}`);
  }
}
