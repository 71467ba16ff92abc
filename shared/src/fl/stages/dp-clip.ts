import { z } from "zod";
import { ErrorCode, FlError } from "../../errors.js";
import type { UpdateDraft, UpdateStage } from "../pipeline.js";
import { createClipStage } from "./clip-l2.js";
import { defineStage } from "./define.js";

/** Whether the site's delta was within the clipping norm before clipping (adaptive clipping's bit). */
export const UNCLIPPED_METRIC = "dp.unclipped";

/**
 * DP-FedAvg's clipping (McMahan et al. 2018) with its weighting, in two parts. The hospital clips
 * its delta to `clipNorm` (clip-l2, which reports `clip.clipped`). The coordinator, which in
 * central mode is the party trusted to add the noise, does not rely on that: it clips again (a
 * no-op for an honest site, bar float rounding) and gives every update the weight 1. DP-FedAvg's
 * sensitivity is C / m only for a bounded weight; weighting by a site's self-reported example
 * count would let one site's influence grow with its claim. It also turns the site's clip bit
 * into `dp.unclipped` (1 when ‖Δ‖ ≤ C), which adaptive clipping (Andrew et al. 2021) averages:
 * with every weight 1, the round's training-metric mean of it is the fraction of unclipped sites.
 *
 * The coordinator's round runner adds this stage (with the round's clip norm) when the plan has
 * `privacy.dp`; a plan does not list it itself.
 */
export function createDpClipCoordinatorStage(options: {
  clipNorm: number;
  adaptive?: boolean | undefined;
}): UpdateStage {
  const reclip = createClipStage({ maxNorm: options.clipNorm });
  return {
    name: "dp-clip",
    apply(update: UpdateDraft, context): UpdateDraft {
      const clipped = update.metrics["clip.clipped"];
      const hasBit = clipped === 0 || clipped === 1;
      // With a fixed C the guarantee needs nothing from the site (the coordinator clips), so a
      // site whose policy sends no training metrics still takes part; adaptive C needs its bit.
      if (options.adaptive && !hasBit)
        throw new FlError(
          ErrorCode.FailedPrecondition,
          `the update of "${context.siteId}" carries no clip.clipped bit, which adaptive clipping needs: the site did not run the dp-clip stage (is it older than the coordinator?) or its privacy policy withholds training metrics`,
        );
      const { delta } = reclip.apply(update, context);
      // The site's own norm metrics stay as the site reported them; only the bit is added.
      return {
        delta,
        numExamples: 1,
        metrics: hasBit ? { ...update.metrics, [UNCLIPPED_METRIC]: clipped === 0 ? 1 : 0 } : update.metrics,
      };
    },
  };
}

export const DP_CLIP = defineStage({
  name: "dp-clip",
  options: {
    /** The round's clipping norm C (fixed, or the adaptive estimate of the round). */
    clipNorm: z.number().positive(),
    /** C adapts to the sites' clip bits: the coordinator refuses an update without one. */
    adaptive: z.boolean().optional(),
  },
  client: ({ clipNorm }) => createClipStage({ maxNorm: clipNorm }),
  coordinator: createDpClipCoordinatorStage,
});
