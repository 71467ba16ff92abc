import { describe, expect, it } from "vitest";
import { constantSchedule, cosineWithWarmup } from "../../../../client/src/training/schedule.js";
import { isFlError } from "../../../../shared/src/errors.js";

describe("cosine schedule with linear warm-up", () => {
  const schedule = cosineWithWarmup({
    baseLearningRate: 0.1,
    warmupSteps: 4,
    totalSteps: 14,
    minLearningRate: 0.01,
  });

  it("warms up linearly from base / warmup to base", () => {
    for (const [step, rate] of [0.025, 0.05, 0.075, 0.1].entries())
      expect(schedule(step)).toBeCloseTo(rate, 12);
  });

  it("follows a half cosine from base to the floor, then stays there", () => {
    expect(schedule(4)).toBeCloseTo(0.1, 12);
    // halfway through the 10 decay steps: 0.01 + 0.09 * (1 + cos(pi/2)) / 2 = 0.055
    expect(schedule(9)).toBeCloseTo(0.055, 12);
    // a quarter: 0.01 + 0.09 * (1 + cos(pi/4)) / 2 = 0.086820
    expect(schedule(6.5)).toBeCloseTo(0.01 + (0.09 * (1 + Math.SQRT1_2)) / 2, 12);
    expect(schedule(14)).toBeCloseTo(0.01, 12);
    expect(schedule(100)).toBeCloseTo(0.01, 12);
  });

  it("has no warm-up when warmupSteps is 0", () => {
    const noWarmup = cosineWithWarmup({ baseLearningRate: 1, warmupSteps: 0, totalSteps: 2 });
    expect([0, 1, 2].map(noWarmup)).toEqual([1, 0.5, 0]);
  });

  it("refuses inconsistent settings with a config error", () => {
    for (const bad of [
      { baseLearningRate: 0, warmupSteps: 0, totalSteps: 1 },
      { baseLearningRate: 1, warmupSteps: 5, totalSteps: 4 },
      { baseLearningRate: 1, warmupSteps: 0, totalSteps: 4, minLearningRate: 2 },
    ]) {
      expect(() => cosineWithWarmup(bad)).toThrow(expect.objectContaining({ code: "FL_INVALID_CONFIG" }));
      try {
        cosineWithWarmup(bad);
      } catch (error) {
        expect(isFlError(error)).toBe(true);
      }
    }
  });

  it("constant schedule", () => {
    expect([0, 7, 1e6].map(constantSchedule(0.3))).toEqual([0.3, 0.3, 0.3]);
  });
});
