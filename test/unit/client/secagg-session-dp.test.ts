import { describe, expect, it } from "vitest";
import { runSecAggSession } from "../../../client/src/secagg-session.js";
import { DEFAULT_MODEL_SPEC } from "../../../shared/src/fl/model-spec.js";
import type { CoordinatorPort } from "../../../shared/src/fl/ports.js";
import { distributedCodecClip } from "../../../shared/src/fl/secagg-dp.js";
import type { SecAggAnswer } from "../../../shared/src/fl/secagg-exchange.js";
import { buildTrainTask, type TrainTask, type TrainTaskInput } from "../../../shared/src/fl/task.js";
import { createSecAggParams, type SecAggParams } from "../../../shared/src/secagg/index.js";

/**
 * The site's own checks of a distributed-DP round's setup, before it masks anything: the
 * coordinator's answer is scripted, and a setup that would make the stated ε false is refused.
 */

const COHORT = ["a", "b", "c", "d", "e"];
const NOISE = { clipNorm: 0.5, noiseMultiplier: 1.2, survivors: 3, cohort: 5 };
const CLIP = distributedCodecClip(NOISE);

function task(pipeline: TrainTaskInput["pipeline"] = [{ stage: "dp-site-noise", ...NOISE }]): TrainTask {
  return buildTrainTask({
    model: DEFAULT_MODEL_SPEC,
    task: "classify",
    train: { epochs: 1, batchSize: 8 },
    seed: 1,
    pipeline,
    privacy: {
      cohort: 5,
      secureAggregation: true,
      dp: {
        mode: "distributed",
        noiseMultiplier: 1.2,
        clipNorm: 0.5,
        delta: 1e-5,
        epsilonBefore: 0,
        epsilonAfter: 2,
      },
    },
  } as TrainTaskInput);
}

function params(overrides: Partial<Parameters<typeof createSecAggParams>[0]> = {}): SecAggParams {
  return createSecAggParams({
    session: "s1",
    round: 1,
    cohort: COHORT,
    vectorLength: 5,
    graphSeed: "cd".repeat(32),
    clip: CLIP,
    fracBits: 16,
    ...overrides,
  });
}

/** Answers the setup with these parameters, and ends the site's part on its next call. */
async function join(setup: SecAggParams, weightScale: number, spec = task()) {
  const answers: SecAggAnswer[] = [
    { kind: "setup", params: setup, weightScale },
    { kind: "ended", reason: "test over" },
  ];
  const port = {
    secAggExchange: async () => ({ ...(answers.shift() as SecAggAnswer), mac: new Uint8Array(32) }),
  } as unknown as CoordinatorPort;
  return runSecAggSession({
    siteId: "a",
    port,
    session: {
      authorize: () => ({ sessionToken: "x", sequence: 1, mac: new Uint8Array(32) }),
      checkAnswerMac: () => {},
    },
    task: { taskId: "t", round: 1, spec },
    delta: new Float32Array(4),
    numExamples: 1,
    upload: async () => ({ accepted: true }),
    ended: new AbortController().signal,
    log: () => {},
  });
}

describe("a site under distributed DP checks the coordinator's setup", () => {
  it("takes part when the setup keeps t, the noise's tails and weight 1", async () => {
    await expect(join(params(), 1)).resolves.toEqual({ kind: "ended", reason: "test over" });
  });

  it("refuses a sum of fewer inputs than its noise share is sized for", async () => {
    await expect(
      join(
        params({ minSurvivors: 3, degree: 2, threshold: 2 }),
        1,
        task([{ stage: "dp-site-noise", ...NOISE, survivors: 4 }]),
      ),
    ).rejects.toThrow(
      /unmasks sums of as few as 3 sites, but this site's noise share is sized for at least 4; refusing to take part/,
    );
  });

  it("refuses a codec that would cut its noise", async () => {
    await expect(join(params({ clip: 1 }), 1)).rejects.toThrow(
      /its codec clips values at 1, which would cut this site's noise/,
    );
  });

  it("refuses a weight scale other than 1, which would scale its update and noise", async () => {
    await expect(join(params(), 40)).rejects.toThrow(
      /its weight scale is 40; distributed DP weighs every update 1/,
    );
  });

  it("refuses a task that promises distributed DP but adds no noise here", async () => {
    await expect(join(params(), 1, task([]))).rejects.toThrow(
      /promises distributed DP but its pipeline adds no noise/,
    );
  });
});
