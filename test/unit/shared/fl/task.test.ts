import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { DEFAULT_MODEL_SPEC } from "../../../../shared/src/fl/model-spec.js";
import {
  buildEvaluateTask,
  buildTrainTask,
  encodeTaskSpec,
  parseTaskSpec,
} from "../../../../shared/src/fl/task.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const UNET = {
  architecture: "unet-multitask",
  encoder: "tiny",
  imageSize: 32,
  numClasses: 4,
  seed: 1,
  phase: "moco",
} as const;

describe("the task contract", () => {
  it("parses what the coordinator built, defaults included, after a trip as JSON", () => {
    const spec = buildTrainTask({
      model: UNET,
      task: "moco",
      train: { epochs: 2 },
      seed: 5,
      options: { queueSize: 64 },
    });
    expect(spec).toMatchObject({
      task: "moco",
      options: { queueSize: 64 },
      train: { epochs: 2, batchSize: 16, optimizer: "adam" },
      local: [],
      labelFraction: 1,
      pipeline: [],
      model: { projectionDim: 128 },
    });
    expect(parseTaskSpec("train", encodeTaskSpec({ kind: "train", spec }))).toEqual({ kind: "train", spec });

    const evaluate = buildEvaluateTask({ model: DEFAULT_MODEL_SPEC });
    expect(evaluate).toEqual({
      model: DEFAULT_MODEL_SPEC,
      split: "test",
      task: "classify",
      bootstrap: 200,
      temperatureScaling: false,
      seed: 0,
    });
    // More replicates than a report can carry within the message limits is the coordinator's bug.
    expect(() => buildEvaluateTask({ model: DEFAULT_MODEL_SPEC, bootstrap: 1001 })).toThrow(/1000/);
    expect(parseTaskSpec("evaluate", JSON.stringify(evaluate))).toEqual({ kind: "evaluate", spec: evaluate });
  });

  it("fills each kind's own option defaults", () => {
    const classify = buildTrainTask({ model: DEFAULT_MODEL_SPEC, task: "classify", train: {}, seed: 1 });
    expect(classify.options).toEqual({ augment: true });
    const inpainting = buildTrainTask({
      model: UNET,
      task: "inpainting",
      train: {},
      seed: 1,
      options: { loss: "l2" },
    });
    expect(inpainting.options).toEqual({ loss: "l2", augment: true });
  });

  it("names what a client cannot run and suggests why", () => {
    const json = (value: unknown) => JSON.stringify(value);
    const base = { model: DEFAULT_MODEL_SPEC, train: {}, seed: 1 };
    expectFlError(
      () => parseTaskSpec("train", json({ ...base, task: "inpaint" })),
      ErrorCode.InvalidArgument,
      "task",
      "is the client older than the coordinator?",
    );
    expectFlError(
      () => parseTaskSpec("train", json({ ...base, task: "classify", options: { temperature: 0.2 } })),
      ErrorCode.InvalidArgument,
      "options",
      "temperature",
    );
    expectFlError(
      () => parseTaskSpec("train", json({ ...base, task: "classify", pipeline: [{ stage: "noise" }] })),
      ErrorCode.InvalidArgument,
      "pipeline.0",
    );
    expectFlError(() => parseTaskSpec("predict", "{}"), ErrorCode.InvalidArgument, 'kind "predict"');
    expectFlError(() => parseTaskSpec("train", "{"), ErrorCode.InvalidArgument, "not JSON");
  });
});
