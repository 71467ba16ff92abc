import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../../shared/src/errors.js";
import type { UpdateDraft } from "../../../../../shared/src/fl/pipeline.js";
import { buildPipeline, StageConfigSchema } from "../../../../../shared/src/fl/stages/index.js";
import { createManifest } from "../../../../../shared/src/weights/index.js";
import { expectFlError } from "../../../../helpers/expect-fl-error.js";

const MANIFEST = createManifest([{ name: "w", shape: [2] }]);
const CONTEXT = { siteId: "st-marys", round: 3, phase: "p" };

function draft(values: number[]): UpdateDraft {
  return { delta: { manifest: MANIFEST, values: Float32Array.from(values) }, numExamples: 4, metrics: {} };
}

/** The stage as a plan's `pipeline: [{ stage: norm-bound, maxNorm: 5 }]` builds it. */
const pipeline = buildPipeline([StageConfigSchema.parse({ stage: "norm-bound", maxNorm: 5 })]);

describe("the norm-bound stage", () => {
  it("runs on the coordinator only", () => {
    expect(pipeline.client).toEqual([]);
    expect(pipeline.aggregate).toEqual([]);
    expect(pipeline.coordinator.map((s) => s.name)).toEqual(["norm-bound"]);
  });

  it("passes an update at the bound unchanged", () => {
    // ‖(3, 4)‖ = 5 exactly.
    const update = draft([3, 4]);
    expect(pipeline.coordinator[0]?.apply(update, CONTEXT)).toBe(update);
  });

  it("refuses one above it, naming the site, the norm and the bound", () => {
    // ‖(3, 4.001)‖ = 5.0008: just above.
    expectFlError(
      () => pipeline.coordinator[0]?.apply(draft([3, 4.001]), CONTEXT),
      ErrorCode.InvalidArgument,
      `the update of "st-marys" has L2 norm 5.000`,
      "above the plan's bound 5",
    );
  });

  it("needs a positive bound", () => {
    expect(StageConfigSchema.safeParse({ stage: "norm-bound", maxNorm: 0 }).success).toBe(false);
    expect(StageConfigSchema.safeParse({ stage: "norm-bound" }).success).toBe(false);
  });
});
