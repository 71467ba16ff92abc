import { z } from "zod";
import type { AggregateStage, UpdateStage } from "../pipeline.js";

/**
 * A pipeline stage as a plan names it: its options and the parts it runs on each side. A stage
 * may have parts on both sides (secure aggregation masks on the client, unmasks on the
 * coordinator).
 */
export interface StageParts<Options> {
  readonly client?: (options: Options) => UpdateStage;
  readonly coordinator?: (options: Options) => UpdateStage;
  readonly aggregate?: (options: Options) => AggregateStage;
}

export interface StageDefinition<Name extends string, Shape extends z.ZodRawShape>
  extends StageParts<z.infer<z.ZodObject<Shape>>> {
  readonly name: Name;
  /** The stage's entry in a phase's `pipeline`: `{ stage: name, ...options }`. */
  readonly config: z.ZodObject<Shape & { stage: z.ZodLiteral<Name> }, z.core.$strict>;
}

export function defineStage<const Name extends string, Shape extends z.ZodRawShape>(
  definition: { readonly name: Name; readonly options: Shape } & StageParts<z.infer<z.ZodObject<Shape>>>,
): StageDefinition<Name, Shape> {
  const { name, options, ...parts } = definition;
  return Object.freeze({ name, ...parts, config: z.strictObject({ ...options, stage: z.literal(name) }) });
}
