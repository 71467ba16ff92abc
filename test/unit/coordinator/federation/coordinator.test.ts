import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { deserializeWeights, sha256Hex } from "../../../../shared/src/weights/index.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";
import { InProcessFederation } from "../../../helpers/in-process-federation.js";

let fed: InProcessFederation | undefined;

afterEach(async () => {
  await fed?.close();
  fed = undefined;
});

describe("the coordinator service", () => {
  it("serves the model version a task names, older committed versions, and nothing else", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const [a] = fed.join("a");
    const task = await a!.trainTask();
    const v0 = a!.model(task.modelVersion);
    expect(v0.sha256).toBe(task.modelSha256);
    expect(sha256Hex(v0.bytes)).toBe(task.modelSha256);
    expect(v0.bytes.length).toBe(task.modelBytes);
    expect(await a!.upload(a!.seal(task, 1, 1))).toEqual({ accepted: true });
    const evaluation = await a!.evaluateTask();
    expect(evaluation.modelVersion).toBe(1);
    expect(Array.from(deserializeWeights(a!.model(1).bytes).values)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(a!.model(0)).toEqual(v0);
    expectFlError(() => a!.model(9), ErrorCode.NotFound, "current is v1");
  });

  it("announces the federation's start and end", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const [a] = fed.join("a");
    expect(await a!.train(1, 1)).toEqual({ accepted: true });
    await fed.evaluateAll([a!]);
    expect((await fed.run).status).toBe("completed");
    expect(fed.events.map((e) => e.type)).toEqual([
      "federation.started",
      "site.joined",
      "round.started",
      "update.accepted",
      "round.completed",
      "evaluation.completed",
      "federation.completed",
    ]);
    expect(fed.events.at(-1)?.data).toEqual({ modelVersion: 1, rounds: 1 });
  });

  it("stops when asked, leaving the open round for a restart", async () => {
    fed = InProcessFederation.start({ siteIds: ["a"], plan: { minSites: 1 } });
    const [a] = fed.join("a");
    await a!.trainTask();
    fed.service.stop();
    expect(await fed.run).toEqual({ status: "failed", reason: "stopped" });
    expect(await a!.pull()).toEqual({ kind: "done", reason: "the coordinator is shutting down" });
    expect(fed.store.listRounds()[0]?.status).toBe("running");
  });
});
