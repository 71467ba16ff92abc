import { z } from "zod";
import type { UpdatePipeline } from "../pipeline.js";
import { CLIP_L2 } from "./clip-l2.js";
import type { StageParts } from "./define.js";
import { DP_CLIP } from "./dp-clip.js";
import { DP_GAUSSIAN } from "./dp-gaussian.js";
import { DP_SITE_NOISE } from "./dp-site-noise.js";
import { NORM_BOUND } from "./norm-bound.js";

/** Every pipeline stage a plan can name: adding a stage is its file plus one entry here. */
const STAGES = [CLIP_L2, NORM_BOUND, DP_CLIP, DP_GAUSSIAN, DP_SITE_NOISE] as const;

/** One entry of a phase's `pipeline`: `{ stage: <name>, ...options }`. */
export const StageConfigSchema = z.discriminatedUnion("stage", [
  STAGES[0].config,
  ...STAGES.slice(1).map((s) => s.config),
]);
export type StageConfig = z.infer<typeof StageConfigSchema>;

export const STAGE_NAMES: readonly string[] = STAGES.map((s) => s.name);

/** Builds a phase's stages for both sides, in the order the plan lists them. */
export function buildPipeline(configs: readonly StageConfig[]): UpdatePipeline {
  const client = [];
  const coordinator = [];
  const aggregate = [];
  for (const config of configs) {
    const found = STAGES.find((s) => s.name === config.stage);
    if (!found) throw new RangeError(`unknown pipeline stage "${config.stage}"`);
    const { stage: _, ...options } = config;
    // The config parsed with this definition's own schema (the discriminant matched), which
    // TypeScript cannot follow from `stage` to the options' shape.
    const definition = found as StageParts<typeof options>;
    if (definition.client) client.push(definition.client(options));
    if (definition.coordinator) coordinator.push(definition.coordinator(options));
    if (definition.aggregate) aggregate.push(definition.aggregate(options));
  }
  return { client, coordinator, aggregate };
}
