import { describe, expect, it } from "vitest";
import { evaluateTaskSpec } from "../../../coordinator/src/federation/task-specs.js";
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

describe("the plan's evaluation options", () => {
  const phases = [{ name: "p", task: "classify" as const, rounds: 1 }];
  it("default to 200 bootstrap replicates and no temperature scan, and reach the sites' tasks", () => {
    const plan = PlanSchema.parse({ phases });
    expect([plan.evaluationBootstrap, plan.evaluationTemperatureScaling]).toEqual([200, false]);
    const custom = PlanSchema.parse({
      phases,
      evaluationBootstrap: 0,
      evaluationTemperatureScaling: true,
      seed: 4,
    });
    const spec = evaluateTaskSpec(DEFAULT_MODEL_SPEC, custom.phases[0]!, custom, 3).spec;
    expect(spec).toMatchObject({ bootstrap: 0, temperatureScaling: true });
    // Another round, another seed; the same round, the same seed (a resumed evaluation resamples alike).
    const again = evaluateTaskSpec(DEFAULT_MODEL_SPEC, custom.phases[0]!, custom, 3).spec;
    const next = evaluateTaskSpec(DEFAULT_MODEL_SPEC, custom.phases[0]!, custom, 4).spec;
    expect(again).toEqual(spec);
    expect(next.seed).not.toBe(spec.seed);
  });

  it("refuse more replicates than a report may carry", () => {
    const result = PlanSchema.safeParse({ phases, evaluationBootstrap: 1001 });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain("evaluationBootstrap");
  });
});
