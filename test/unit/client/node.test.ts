import { describe, expect, it } from "vitest";
import { MAX_FAILED_JOINS, SiteNode, type SiteNodeOptions } from "../../../client/src/node.js";
import type { EvaluateOutcome, SiteTrainer, TrainOutcome } from "../../../client/src/training/trainer.js";
import { type TrainingSlots, unlimitedSlots } from "../../../client/src/training-slots.js";
import { InMemoryCoordinatorPort } from "../../../client/src/transport/in-memory/coordinator-port.js";
import { generateIdentity, publicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ReceivedPull, RequestAuth } from "../../../shared/src/fl/messages.js";
import { DEFAULT_MODEL_SPEC } from "../../../shared/src/fl/model-spec.js";
import type { CoordinatorPort } from "../../../shared/src/fl/ports.js";
import type { StageConfig } from "../../../shared/src/fl/stages/index.js";
import {
  buildEvaluateTask,
  buildTrainTask,
  type EvaluateTask,
  type FlTask,
  type TrainTask,
} from "../../../shared/src/fl/task.js";
import { createManifest } from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { seededRandom } from "../../helpers/crypto-fixtures.js";
import { ScriptedCoordinator } from "../../helpers/scripted-coordinator.js";

/** Two shared tensors (6 values) and batch-norm statistics that stay at the hospital (2 values). */
const MANIFEST = createManifest([
  { name: "enc.w", shape: [2, 2] },
  { name: "enc.b", shape: [2] },
  { name: "bn.moving_mean", shape: [2] },
]);
const LOCAL = ["bn.*"];

function weights(values: number[]): ModelWeights {
  return { manifest: MANIFEST, values: Float32Array.from(values) };
}

/** Answers every task with the next of the given outcomes and records what it was asked. */
class FixedTrainer implements SiteTrainer {
  readonly trained: { task: TrainTask; weights: number[] }[] = [];
  readonly evaluated: { task: EvaluateTask; weights: number[] }[] = [];

  constructor(
    private readonly rounds: TrainOutcome[],
    private readonly evaluation?: EvaluateOutcome,
  ) {}

  async train(task: TrainTask, start: ModelWeights): Promise<TrainOutcome> {
    this.trained.push({ task, weights: Array.from(start.values) });
    const outcome = this.rounds[this.trained.length - 1];
    if (!outcome) throw new Error("no more training outcomes scripted");
    return outcome;
  }

  async evaluate(task: EvaluateTask, start: ModelWeights): Promise<EvaluateOutcome> {
    this.evaluated.push({ task, weights: Array.from(start.values) });
    if (!this.evaluation) throw new Error("no evaluation scripted");
    return this.evaluation;
  }
}

const site = generateIdentity("hospital-a", seededRandom(1));

function federation(
  trainer: SiteTrainer,
  slots: (coordinator: ScriptedCoordinator) => TrainingSlots = () => unlimitedSlots,
  options: {
    coordinator?: ScriptedCoordinator;
    /** What carries the calls; by default straight to the coordinator. */
    port?: (coordinator: ScriptedCoordinator) => CoordinatorPort;
    federationId?: string;
    node?: Pick<SiteNodeOptions, "rejoinDelayMs" | "diagnoseUnreachable">;
  } = {},
) {
  const coordinator = options.coordinator ?? new ScriptedCoordinator([publicIdentity(site)]);
  const lines: string[] = [];
  const node = new SiteNode({
    identity: site,
    coordinator: coordinator.publicIdentity,
    federationId: options.federationId ?? "scripted",
    port: options.port?.(coordinator) ?? new InMemoryCoordinatorPort(coordinator),
    trainer,
    slots: slots(coordinator),
    siteInfo: {
      trainClassCounts: [3, 3],
      trainUnlabelledCount: 0,
      validationCount: 0,
      testCount: 6,
      backend: "test",
      clientVersion: "test",
    },
    reconnectTimeoutMs: 1000,
    log: (line) => lines.push(line),
    ...options.node,
  });
  return { coordinator, node, lines };
}

function envelope(coordinator: ScriptedCoordinator, round: number, version: number, global: ModelWeights) {
  const model = coordinator.publishModel(version, global);
  return {
    taskId: `task-${round}`,
    round,
    phase: "classify",
    modelVersion: version,
    modelSha256: model.sha256,
    modelBytes: model.bytes,
    deadlineMs: Date.now() + 60_000,
  };
}

function trainTask(
  coordinator: ScriptedCoordinator,
  round: number,
  version: number,
  global: ModelWeights,
  overrides: { pipeline?: StageConfig[] } = {},
): FlTask {
  const spec = buildTrainTask({
    model: DEFAULT_MODEL_SPEC,
    task: "classify",
    train: {},
    local: LOCAL,
    seed: round,
    ...overrides,
  });
  return { ...envelope(coordinator, round, version, global), kind: "train", spec };
}

const GLOBAL_V1 = weights([0.5, -1, 2, 0.25, 1, -0.5, 0, 0]);
const TRAINED_1 = weights([0.75, -1.5, 2.5, 0.25, 0.5, -0.5, 3, 4]);
/** TRAINED_1 − GLOBAL_V1 over enc.w and enc.b, by hand (all exact in float32). */
const DELTA_1 = [0.25, -0.5, 0.5, 0, -0.5, 0];

describe("a hospital node over the in-memory port", () => {
  it("uploads exactly trained − global over the shared tensors and keeps its local ones for the next round", async () => {
    const globalV2 = weights([1, 1, 1, 1, 1, 1, 9, 9]);
    const trainer = new FixedTrainer([
      { weights: TRAINED_1, numExamples: 6, metrics: { loss: 0.5 } },
      { weights: weights([1, 1, 1, 1, 1, 2, 5, 6]), numExamples: 6, metrics: { loss: 0.25 } },
    ]);
    const { coordinator, node } = federation(trainer);
    coordinator.answerPulls(
      { kind: "task", task: trainTask(coordinator, 1, 1, GLOBAL_V1) },
      { kind: "task", task: trainTask(coordinator, 2, 2, globalV2) },
    );

    expect(await node.run()).toEqual({ reason: "script finished" });

    expect(coordinator.joins).toHaveLength(1);
    expect(coordinator.leaves).toEqual(["federation finished"]);
    const [first, second] = coordinator.uploads;
    expect(first?.delta.manifest.tensors.map((t) => t.name)).toEqual(["enc.w", "enc.b"]);
    expect(Array.from(first?.delta.values ?? [])).toEqual(DELTA_1);
    expect(first?.header.manifest).toMatchObject({
      siteId: "hospital-a",
      round: 1,
      modelVersion: 1,
      numExamples: 6,
    });
    expect(first?.header.trainMetrics).toEqual({ loss: 0.5 });
    // Round 2 starts from v2's shared tensors and this site's own statistics from round 1.
    expect(trainer.trained[1]?.weights).toEqual([1, 1, 1, 1, 1, 1, 3, 4]);
    expect(Array.from(second?.delta.values ?? [])).toEqual([0, 0, 0, 0, 0, 1]);
    // The trainer gets the task as parsed after its trip as JSON, defaults filled in.
    expect(trainer.trained[0]?.task).toMatchObject({
      task: "classify",
      local: LOCAL,
      options: { augment: true },
    });
  });

  it("clips the delta to maxNorm when the phase's pipeline has a clip-l2 stage", async () => {
    const trainer = new FixedTrainer([{ weights: TRAINED_1, numExamples: 6, metrics: { loss: 0.5 } }]);
    const { coordinator, node } = federation(trainer);
    const pipeline = [{ stage: "clip-l2" as const, maxNorm: 0.5 }];
    coordinator.answerPulls({ kind: "task", task: trainTask(coordinator, 1, 1, GLOBAL_V1, { pipeline }) });

    await node.run();

    const upload = coordinator.uploads[0];
    const values = Array.from(upload?.delta.values ?? []);
    // ‖DELTA_1‖ = √(0.0625 + 0.25 + 0.25 + 0.25) = √0.8125; scaled by 0.5 / √0.8125.
    const norm = Math.sqrt(0.8125);
    expect(Math.hypot(...values)).toBeCloseTo(0.5, 6);
    values.forEach((v, i) => {
      expect(v).toBeCloseTo(((DELTA_1[i] as number) * 0.5) / norm, 6);
    });
    expect(upload?.header.trainMetrics).toEqual({
      loss: 0.5,
      "clip.norm": expect.closeTo(norm, 6),
      "clip.clipped": 1,
    });
  });

  it("reports an evaluation's confusion matrix for the global model", async () => {
    const evaluation = {
      confusion: [
        [2, 1],
        [0, 3],
      ],
      numExamples: 6,
      metrics: { loss: 0.3 },
    };
    const trainer = new FixedTrainer([], evaluation);
    const { coordinator, node } = federation(trainer);
    const spec = buildEvaluateTask({ model: DEFAULT_MODEL_SPEC });
    coordinator.answerPulls({
      kind: "task",
      task: { ...envelope(coordinator, 3, 3, GLOBAL_V1), kind: "evaluate", spec },
    });

    await node.run();

    expect(trainer.evaluated[0]?.weights).toEqual(Array.from(GLOBAL_V1.values));
    expect(coordinator.evaluations).toEqual([
      { taskId: "task-3", round: 3, modelVersion: 3, split: "test", ...evaluation },
    ]);
    expect(coordinator.uploads).toEqual([]);
  });

  it("reports a task it cannot parse as failed at once, without training", async () => {
    const trainer = new FixedTrainer([]);
    const { coordinator, node } = federation(trainer);
    const task = trainTask(coordinator, 1, 1, GLOBAL_V1);
    // What a newer coordinator might send: an option this client's schema does not know.
    const broken = { ...task, spec: { ...task.spec, options: { unknownOption: 1 } } } as unknown as FlTask;
    coordinator.answerPulls({ kind: "task", task: broken });

    await node.run();

    expect(trainer.trained).toEqual([]);
    expect(coordinator.heartbeats).toEqual([
      { taskId: "task-1", progress: 0, status: "failed", failure: expect.stringContaining("unknownOption") },
    ]);
  });

  it("drops a trained update without uploading when a heartbeat says the task was ended meanwhile", async () => {
    let rounds = 0;
    const { coordinator, node, lines } = federation({
      // The first round outlasts its task: the coordinator settles it while the site trains.
      train: async (_task, start) => {
        if (++rounds === 1) {
          await coordinator.endTask("task-1");
          // Lets the heartbeat's answer reach the node before training returns.
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return { weights: start, numExamples: 6, metrics: { loss: 0.5 } };
      },
      evaluate: () => Promise.reject(new Error("no evaluation scripted")),
    });
    coordinator.answerPulls(
      { kind: "task", task: trainTask(coordinator, 1, 1, GLOBAL_V1) },
      { kind: "task", task: trainTask(coordinator, 2, 2, GLOBAL_V1) },
    );

    expect(await node.run()).toEqual({ reason: "script finished" });

    // Only the task still open is uploaded; the ended one is neither uploaded nor reported failed.
    expect(coordinator.uploads.map((u) => u.header.manifest.taskId)).toEqual(["task-2"]);
    expect(coordinator.heartbeats.filter((b) => b.failure)).toEqual([]);
    expect(lines).toContain(
      "round 1: the coordinator no longer expects the train task task-1 (it ended it): the trained update is dropped, not uploaded",
    );
  });

  it("does not start training a task that was ended while it waited for a training slot", async () => {
    const trainer = new FixedTrainer([{ weights: TRAINED_1, numExamples: 6, metrics: { loss: 0.5 } }]);
    // The site waits for a training slot (other sites of a simulation train) until the task ends.
    const { coordinator, node, lines } = federation(trainer, (coordinator) => ({
      acquire: async () => {
        await coordinator.endTask("task-1");
        await new Promise((resolve) => setTimeout(resolve, 20));
        return () => {};
      },
    }));
    coordinator.answerPulls({ kind: "task", task: trainTask(coordinator, 1, 1, GLOBAL_V1) });

    await node.run();

    expect(trainer.trained).toEqual([]);
    expect(coordinator.uploads).toEqual([]);
    expect(lines.some((l) => l.includes("task-1 (it ended it): not training"))).toBe(true);
  });

  it("joins again when the coordinator no longer knows its session", async () => {
    const trainer = new FixedTrainer([{ weights: TRAINED_1, numExamples: 6, metrics: { loss: 0.5 } }]);
    const { coordinator, node, lines } = federation(trainer);
    coordinator.answerPulls(
      { kind: "restart" },
      { kind: "task", task: trainTask(coordinator, 1, 1, GLOBAL_V1) },
    );

    await node.run();

    expect(coordinator.joins).toHaveLength(2);
    // The coordinator's own reason is passed on, not a guess of the client's.
    expect(lines).toContain(
      "session no longer valid: unknown session (coordinator restarted); joining again",
    );
    expect(Array.from(coordinator.uploads[0]?.delta.values ?? [])).toEqual(DELTA_1);
  });
});

describe("a hospital node refused for good stops instead of joining again without end", () => {
  /** Passes everything on to the coordinator except the join, which is refused as given. */
  function refusingJoins(coordinator: ScriptedCoordinator, refusal: () => Error): CoordinatorPort {
    const inner = new InMemoryCoordinatorPort(coordinator);
    return Object.assign(Object.create(inner) as CoordinatorPort, {
      join: async () => {
        throw refusal();
      },
    });
  }

  it("gives up after MAX_FAILED_JOINS refused joins in a row, waiting longer before each", async () => {
    const delays: number[] = [];
    const { node, lines } = federation(new FixedTrainer([]), undefined, {
      port: (c) =>
        refusingJoins(c, () => new FlError(ErrorCode.Unauthenticated, "the join challenge has expired")),
      node: {
        rejoinDelayMs: (n) => {
          delays.push(n);
          return 1;
        },
      },
    });
    await expect(node.run()).rejects.toMatchObject({
      code: ErrorCode.Unauthenticated,
      message: `the coordinator refused this site's join ${MAX_FAILED_JOINS} times in a row; giving up: the join challenge has expired`,
    });
    expect(delays).toEqual([1, 2, 3, 4]);
    expect(lines.filter((l) => l.includes("session no longer valid"))).toEqual([]);
  });

  it("stops at once on another hospital's certificate (FL_UNKNOWN_SITE), with the coordinator's reason", async () => {
    const reason = 'the client certificate is issued to "a" but the client joins as "b"';
    const { node } = federation(new FixedTrainer([]), undefined, {
      port: (c) => refusingJoins(c, () => new FlError(ErrorCode.UnknownSite, reason)),
    });
    await expect(node.run()).rejects.toMatchObject({ code: ErrorCode.UnknownSite, message: reason });
  });

  it("stops when an unreachable coordinator is in fact a TLS setting that does not fit", async () => {
    const unreachable = new FlError(ErrorCode.Timeout, "coordinator unreachable: alert certificate required");
    const named = new FlError(ErrorCode.InvalidConfig, "set tls.cert and tls.key");
    const { node } = federation(new FixedTrainer([]), undefined, {
      port: (c) => refusingJoins(c, () => unreachable),
      node: { diagnoseUnreachable: (error) => (error === unreachable ? named : undefined) },
    });
    await expect(node.run()).rejects.toBe(named);
  });
});

describe("a hospital node trusts only its configured coordinator", () => {
  const scripted = new FixedTrainer([{ weights: TRAINED_1, numExamples: 6, metrics: { loss: 0.5 } }]);

  it("refuses a coordinator that holds only the public keys: it says nothing about itself and trains nothing", async () => {
    const trainer = new FixedTrainer([]);
    // The impostor has coordinator.public.json (keys anyone may have) but signs with a key of its own.
    const impostor = new ScriptedCoordinator([publicIdentity(site)], {
      signingIdentity: generateIdentity("coordinator", seededRandom(5)),
    });
    const { node } = federation(trainer, undefined, { coordinator: impostor });
    impostor.answerPulls({ kind: "task", task: trainTask(impostor, 1, 1, GLOBAL_V1) });

    await expect(node.run()).rejects.toMatchObject({
      code: ErrorCode.SignatureInvalid,
      message: expect.stringContaining("join challenge is not signed by the configured coordinator key"),
    });
    expect(impostor.joins).toEqual([]);
    expect(impostor.heartbeats).toEqual([]);
    expect(impostor.uploads).toEqual([]);
    expect(trainer.trained).toEqual([]);
  });

  it("refuses a coordinator that runs another federation, before joining it", async () => {
    const { coordinator, node } = federation(scripted, undefined, { federationId: "cxr-2024" });
    await expect(node.run()).rejects.toMatchObject({
      code: ErrorCode.InvalidConfig,
      message: expect.stringContaining(
        'runs federation "scripted", but this hospital is configured for "cxr-2024"',
      ),
    });
    expect(coordinator.joins).toEqual([]);
  });

  it("refuses a task altered on its way (another model hash), and runs nothing", async () => {
    const trainer = new FixedTrainer([]);
    const tamper = (coordinator: ScriptedCoordinator): CoordinatorPort => {
      const honest = new InMemoryCoordinatorPort(coordinator);
      return Object.assign(Object.create(honest) as InMemoryCoordinatorPort, {
        pullTask: async (auth: RequestAuth, waitMs: number): Promise<ReceivedPull> => {
          const pull = await honest.pullTask(auth, waitMs);
          if (pull.kind !== "task") return pull;
          const forged = "f".repeat(64);
          return {
            ...pull,
            task: { ...pull.task, modelSha256: forged },
            signed: { ...pull.signed, modelSha256: forged },
          };
        },
      });
    };
    const { coordinator, node } = federation(trainer, undefined, { port: tamper });
    coordinator.answerPulls({ kind: "task", task: trainTask(coordinator, 1, 1, GLOBAL_V1) });

    await expect(node.run()).rejects.toMatchObject({
      code: ErrorCode.SignatureInvalid,
      message: expect.stringContaining("task task-1 is not signed by the configured coordinator key"),
    });
    expect(trainer.trained).toEqual([]);
    expect(coordinator.uploads).toEqual([]);
  });

  it("does not take a forged end of the federation", async () => {
    const forgeDone = (coordinator: ScriptedCoordinator): CoordinatorPort => {
      const honest = new InMemoryCoordinatorPort(coordinator);
      return Object.assign(Object.create(honest) as InMemoryCoordinatorPort, {
        pullTask: async (): Promise<ReceivedPull> => ({
          kind: "done",
          reason: "finished",
          signature: new Uint8Array(64),
        }),
      });
    };
    const { node } = federation(scripted, undefined, { port: forgeDone });
    await expect(node.run()).rejects.toMatchObject({
      code: ErrorCode.SignatureInvalid,
      message: expect.stringContaining("end of the federation is not signed"),
    });
  });
});
