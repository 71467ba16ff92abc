import { z } from "zod";
import { ErrorCode, FlError } from "../../errors.js";
import type { UpdateStage } from "../pipeline.js";
import { l2Norm } from "./clip-l2.js";
import { defineStage } from "./define.js";

/**
 * The coordinator refuses an update whose L2 norm exceeds `maxNorm`: a cheap defence against a
 * site that sends a scaled-up (boosted) delta. Unlike clip-l2, which an honest site applies to
 * itself, this runs where the site cannot skip it, and refuses rather than rescales so that the
 * verdict shows who sent what. An update exactly at the bound passes.
 */
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
          `norm-bound: the update of "${context.siteId}" has L2 norm ${norm}, above the plan's bound ${maxNorm}`,
        );
      return update;
    },
  }),
});
