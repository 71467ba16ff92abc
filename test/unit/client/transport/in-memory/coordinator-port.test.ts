import { describe, expect, it } from "vitest";
import { InMemoryCoordinatorPort } from "../../../../../client/src/transport/in-memory/coordinator-port.js";
import { ErrorCode, FlError } from "../../../../../shared/src/errors.js";
import type { RequestAuth, SealedUpdate, SignedPullOutcome } from "../../../../../shared/src/fl/messages.js";
import { DEFAULT_MODEL_SPEC } from "../../../../../shared/src/fl/model-spec.js";
import type { CoordinatorService } from "../../../../../shared/src/fl/ports.js";
import { buildEvaluateTask, type EvaluateTask, type FlTask } from "../../../../../shared/src/fl/task.js";
import { sha256Hex } from "../../../../../shared/src/weights/index.js";

/** A service with only the calls a test needs; any other call is a test bug. */
function serviceWith(calls: Partial<CoordinatorService>): CoordinatorService {
  return new Proxy(calls as CoordinatorService, {
    get: (target, name: keyof CoordinatorService) => {
      const call = target[name];
      if (!call) throw new Error(`unexpected call ${String(name)}`);
      return call;
    },
  });
}

/** The port carries authentication; it checks none of it (the session and the service do). */
const AUTH: RequestAuth = { sessionToken: "s", sequence: 1, mac: new Uint8Array(32) };
const SIGNATURE = new Uint8Array(64).fill(7);

const ENVELOPE = {
  taskId: "t1",
  round: 2,
  phase: "classify",
  modelVersion: 1,
  modelSha256: "00",
  modelBytes: 1,
  deadlineMs: 0,
};

const UPDATE: SealedUpdate = {
  manifest: {
    federationId: "f",
    siteId: "a",
    round: 1,
    modelVersion: 1,
    taskId: "t1",
    uploadId: "u",
    noncePrefix: "n",
    contentSha256: "00",
    plaintextBytes: 1,
    numChunks: 1,
    numExamples: 1,
    createdAtMs: 0,
  },
  signature: new Uint8Array(64),
  chunks: [new Uint8Array([1, 2, 3])],
};

function refusingUpload(error: Error): InMemoryCoordinatorPort {
  return new InMemoryCoordinatorPort(
    serviceWith({
      beginUpload: () => {
        throw error;
      },
    }),
  );
}

describe("the in-memory coordinator port", () => {
  it("answers a refused upload with a verdict, and fails the call on a session error", async () => {
    const replay = new FlError(ErrorCode.Replay, "already uploaded");
    expect(await refusingUpload(replay).uploadUpdate(AUTH, UPDATE, {})).toEqual({
      accepted: false,
      reasonCode: ErrorCode.Replay,
      message: "already uploaded",
    });
    const expired = new FlError(ErrorCode.Unauthenticated, "unknown session");
    await expect(refusingUpload(expired).uploadUpdate(AUTH, UPDATE, {})).rejects.toBe(expired);
  });

  it("hands the sink copies of the chunks, in order", async () => {
    const received: [number, Uint8Array][] = [];
    const port = new InMemoryCoordinatorPort(
      serviceWith({
        beginUpload: () => ({
          addChunk: (index, ciphertext) => received.push([index, ciphertext]),
          finish: async () => {},
          abort: () => {},
        }),
      }),
    );
    const update = { ...UPDATE, chunks: [new Uint8Array([1]), new Uint8Array([2, 3])] };
    expect(await port.uploadUpdate(AUTH, update, { loss: 1 })).toEqual({ accepted: true });
    expect(received.map(([i, c]) => [i, Array.from(c)])).toEqual([
      [0, [1]],
      [1, [2, 3]],
    ]);
    expect(received[0]?.[1]).not.toBe(update.chunks[0]);
  });

  it("checks the downloaded model against the task's sha256 and returns its own copy", async () => {
    const bytes = new Uint8Array([5, 6, 7]);
    const port = new InMemoryCoordinatorPort(
      serviceWith({ model: () => ({ bytes, sha256: sha256Hex(bytes) }) }),
    );
    const downloaded = await port.downloadModel(AUTH, 1, sha256Hex(bytes));
    expect(Array.from(downloaded)).toEqual([5, 6, 7]);
    expect(downloaded).not.toBe(bytes);
    await expect(port.downloadModel(AUTH, 1, sha256Hex(new Uint8Array([0])))).rejects.toMatchObject({
      code: ErrorCode.HashMismatch,
    });
  });

  it("parses the task after a trip as JSON, and names a spec it cannot run", async () => {
    const spec = buildEvaluateTask({ model: DEFAULT_MODEL_SPEC });
    const pulls: SignedPullOutcome[] = [
      { kind: "task", task: { ...ENVELOPE, kind: "evaluate", spec }, signature: SIGNATURE },
      {
        kind: "task",
        task: { ...ENVELOPE, kind: "evaluate", spec: { ...spec, split: "train" } } as unknown as FlTask,
        signature: SIGNATURE,
      },
    ];
    const port = new InMemoryCoordinatorPort(
      serviceWith({ pullTask: async () => pulls.shift() as SignedPullOutcome }),
    );

    const received = await port.pullTask(AUTH, 10);
    const signed = { ...ENVELOPE, kind: "evaluate", configJson: JSON.stringify(spec) };
    expect(received).toEqual({
      kind: "task",
      task: { ...ENVELOPE, kind: "evaluate", spec },
      signed,
      signature: SIGNATURE,
    });
    expect(received.kind === "task" && (received.task.spec as EvaluateTask).model).not.toBe(spec.model);
    expect(await port.pullTask(AUTH, 10)).toEqual({
      kind: "unrunnable",
      taskId: "t1",
      round: 2,
      reason: expect.stringContaining("split"),
      signed: { ...signed, configJson: JSON.stringify({ ...spec, split: "train" }) },
      signature: SIGNATURE,
    });
  });

  it("turns anything else a service throws into an FlError, like a wire", async () => {
    const port = new InMemoryCoordinatorPort(
      serviceWith({
        leave: () => {
          throw new TypeError("bug");
        },
      }),
    );
    await expect(port.leave(AUTH, "bye")).rejects.toMatchObject({ code: ErrorCode.Internal, message: "bug" });
  });
});
