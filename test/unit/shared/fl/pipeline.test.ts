import { describe, expect, it } from "vitest";
import { runUpdateStages, type UpdateDraft } from "../../../../shared/src/fl/pipeline.js";
import { buildPipeline } from "../../../../shared/src/fl/stages/index.js";
import { createManifest } from "../../../../shared/src/weights/index.js";

const CONTEXT = { siteId: "a", round: 1, phase: "p" };
const UPDATE: UpdateDraft = {
  delta: {
    manifest: createManifest([{ name: "w", shape: [3] }]),
    values: Float32Array.from([1e-7, -2, 3.5]),
  },
  numExamples: 3,
  metrics: { loss: 0.5 },
};

describe("the update pipeline", () => {
  it("passes an update through no stages bit for bit", () => {
    const pipeline = buildPipeline([]);
    expect(pipeline).toEqual({ client: [], coordinator: [], aggregate: [] });
    const out = runUpdateStages(pipeline.client, UPDATE, CONTEXT);
    expect(out).toBe(UPDATE);
    expect(out.delta.values).toBe(UPDATE.delta.values);
  });

  it("runs clip-l2 on the hospital only, in the plan's order", () => {
    const pipeline = buildPipeline([
      { stage: "clip-l2", maxNorm: 2 },
      { stage: "clip-l2", maxNorm: 1 },
    ]);
    expect(pipeline.client.map((s) => s.name)).toEqual(["clip-l2", "clip-l2"]);
    expect(pipeline.coordinator).toEqual([]);
    expect(pipeline.aggregate).toEqual([]);
    // ‖(1e-7, −2, 3.5)‖ ≈ 4.031: the first stage clips to 2, the second sees norm 2 and clips to 1.
    const out = runUpdateStages(pipeline.client, UPDATE, CONTEXT);
    expect(out.metrics["clip.norm"]).toBeCloseTo(2, 6);
    expect(Math.hypot(...out.delta.values)).toBeCloseTo(1, 6);
  });
});
