import { describe, expect, it } from "vitest";
import type { UpdateDraft } from "../../../../../shared/src/fl/pipeline.js";
import { createClipStage } from "../../../../../shared/src/fl/stages/clip-l2.js";
import { StageConfigSchema } from "../../../../../shared/src/fl/stages/index.js";
import { createManifest } from "../../../../../shared/src/weights/index.js";

const MANIFEST = createManifest([{ name: "w", shape: [2] }]);
const CONTEXT = { siteId: "a", round: 1, phase: "p" };

function draft(values: number[]): UpdateDraft {
  return {
    delta: { manifest: MANIFEST, values: Float32Array.from(values) },
    numExamples: 4,
    metrics: { loss: 1 },
  };
}

describe("the clip-l2 stage", () => {
  it("scales a delta longer than maxNorm down to it", () => {
    // ‖(3, 4)‖ = 5; maxNorm 1 keeps the direction: (0.6, 0.8).
    const clipped = createClipStage({ maxNorm: 1 }).apply(draft([3, 4]), CONTEXT);
    expect(clipped.delta.values[0]).toBeCloseTo(0.6, 7);
    expect(clipped.delta.values[1]).toBeCloseTo(0.8, 7);
    expect(clipped.delta.manifest).toBe(MANIFEST);
    expect(clipped.numExamples).toBe(4);
    expect(clipped.metrics).toEqual({ loss: 1, "clip.norm": 5, "clip.clipped": 1 });
  });

  it("leaves a delta within the bound as it was", () => {
    const update = draft([0.3, 0.4]);
    const kept = createClipStage({ maxNorm: 1 }).apply(update, CONTEXT);
    expect(kept.delta).toBe(update.delta);
    expect(kept.metrics).toEqual({ loss: 1, "clip.norm": expect.closeTo(0.5, 7), "clip.clipped": 0 });
  });

  it("is configured by a plan with a positive maxNorm", () => {
    expect(StageConfigSchema.parse({ stage: "clip-l2", maxNorm: 2 })).toEqual({
      stage: "clip-l2",
      maxNorm: 2,
    });
    expect(StageConfigSchema.safeParse({ stage: "clip-l2", maxNorm: 0 }).success).toBe(false);
    expect(StageConfigSchema.safeParse({ stage: "clip-l2", maxNorm: 1, extra: 1 }).success).toBe(false);
  });
});
