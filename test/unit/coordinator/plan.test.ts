import { describe, expect, it } from "vitest";
import { PlanSchema, planProblems } from "../../../coordinator/src/plan.js";
import { DEFAULT_MODEL_SPEC, type ModelSpec } from "../../../shared/src/fl/model-spec.js";

const unet: ModelSpec = {
  architecture: "unet-multitask",
  encoder: "tiny",
  imageSize: 64,
  numClasses: 4,
  seed: 1,
  projectionDim: 128,
  phase: "multitask",
};

describe("a plan's phases", () => {
  it("have an empty update pipeline unless they name stages, which the schema checks", () => {
    const phase = (extra: object) =>
      PlanSchema.safeParse({ phases: [{ name: "p", task: "classify", rounds: 1, ...extra }] });
    expect(phase({}).data?.phases[0]?.pipeline).toEqual([]);
    expect(phase({ pipeline: [{ stage: "clip-l2", maxNorm: 1 }] }).data?.phases[0]?.pipeline).toEqual([
      { stage: "clip-l2", maxNorm: 1 },
    ]);
    expect(phase({ pipeline: [{ stage: "clip-l2" }] }).success).toBe(false);
    expect(phase({ pipeline: [{ stage: "no-such-stage" }] }).success).toBe(false);
  });

  it("name the task kinds of the contract", () => {
    const kind = (task: string) => PlanSchema.safeParse({ phases: [{ name: "p", task, rounds: 1 }] }).success;
    expect(["classify", "multitask", "moco", "inpainting"].map(kind)).toEqual([true, true, true, true]);
    expect(kind("inpaint")).toBe(false);
  });

  it("must fit the model: a kind's architectures and its options", () => {
    const plan = PlanSchema.parse({
      phases: [
        { name: "pre", task: "moco", rounds: 1, options: { temperature: -1 } },
        { name: "fine", task: "multitask", rounds: 1 },
      ],
    });
    expect(planProblems(plan, unet)).toEqual([
      "plan.phases.0.options.temperature: Too small: expected number to be >0",
    ]);
    expect(planProblems(plan, DEFAULT_MODEL_SPEC)).toEqual(
      expect.arrayContaining([
        `plan.phases.0.task: "moco" needs the unet-multitask architecture; small-cnn has no trainer for it`,
        `plan.phases.1.task: "multitask" needs the unet-multitask architecture; small-cnn has no trainer for it`,
      ]),
    );
  });
});
