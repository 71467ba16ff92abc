import { describe, expect, it } from "vitest";
import {
  evaluationFromWire,
  heartbeatFromWire,
  joinRequestFromWire,
  pullOutcomeToWire,
  uploadHeaderFromWire,
} from "../../../../../coordinator/src/transport/grpc/wire.js";
import { ErrorCode } from "../../../../../shared/src/errors.js";
import { DEFAULT_MODEL_SPEC } from "../../../../../shared/src/fl/model-spec.js";
import { buildTrainTask, type FlTask, parseTaskSpec } from "../../../../../shared/src/fl/task.js";
import { expectFlError } from "../../../../helpers/expect-fl-error.js";

describe("the gRPC server's wire mapping", () => {
  it("sends a task's spec as JSON the hospital parses back to the same typed task", () => {
    const task: FlTask = {
      taskId: "t",
      round: 3,
      phase: "p",
      modelVersion: 2,
      modelSha256: "ab",
      modelBytes: 10,
      deadlineMs: 99,
      kind: "train",
      spec: buildTrainTask({ model: DEFAULT_MODEL_SPEC, task: "classify", train: {}, seed: 7 }),
    };
    const signature = new Uint8Array(64).fill(3);
    const response = pullOutcomeToWire({ kind: "task", task, signature });
    expect(response.result?.$case).toBe("task");
    if (response.result?.$case !== "task") return;
    const { configJson, coordinatorSignature, ...envelope } = response.result.value;
    expect(Array.from(coordinatorSignature)).toEqual(Array.from(signature));
    expect(envelope).toEqual({
      taskId: "t",
      round: 3,
      phase: "p",
      kind: "train",
      modelVersion: 2,
      modelSha256: "ab",
      modelBytes: 10,
      deadlineMs: 99,
    });
    expect(parseTaskSpec(envelope.kind, configJson)).toEqual({ kind: "train", spec: task.spec });
  });

  it("hands the confusion matrix on as rows without dropping or padding cells", () => {
    const report = (numClasses: number, confusion: number[]) =>
      evaluationFromWire({
        sessionToken: "s",
        sequence: 1,
        mac: Buffer.alloc(32),
        taskId: "t",
        round: 1,
        modelVersion: 1,
        split: "test",
        numExamples: 4,
        numClasses,
        confusion,
        metrics: {},
      }).confusion;
    expect(report(2, [1, 0, 0, 3])).toEqual([
      [1, 0],
      [0, 3],
    ]);
    expect(report(2, [1, 0, 0])).toEqual([[1, 0], [0]]);
    expect(report(2, [1, 0, 0, 3, 5])).toEqual([[1, 0], [0, 3], [5]]);
    expect(report(0, [])).toEqual([]);
    expect(report(0, [4])).toEqual([[4]]);
  });

  it("reads proto3's empty strings and missing messages as absent", () => {
    expect(
      heartbeatFromWire({
        sessionToken: "s",
        sequence: 1,
        mac: Buffer.alloc(32),
        taskId: "t",
        progress: 0.5,
        status: "x",
        failure: "",
      }),
    ).toEqual({
      taskId: "t",
      progress: 0.5,
      status: "x",
    });
    expect(
      heartbeatFromWire({
        sessionToken: "s",
        sequence: 1,
        mac: Buffer.alloc(32),
        taskId: "t",
        progress: 0,
        status: "",
        failure: "no data",
      }),
    ).toMatchObject({
      failure: "no data",
    });
    expect(
      joinRequestFromWire({ siteId: "a", challenge: Buffer.from([1]), signature: Buffer.from([2]) }),
    ).toEqual({ siteId: "a", challenge: new Uint8Array([1]), signature: new Uint8Array([2]) });
    expectFlError(
      () =>
        uploadHeaderFromWire({
          sessionToken: "s",
          sequence: 1,
          mac: Buffer.alloc(32),
          signature: Buffer.alloc(0),
          trainMetrics: {},
        }),
      ErrorCode.InvalidArgument,
      "no manifest",
    );
  });
});
