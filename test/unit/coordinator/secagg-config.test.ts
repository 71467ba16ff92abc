import { describe, expect, it } from "vitest";
import { PlanSchema } from "../../../coordinator/src/plan.js";
import { SecureAggregationConfigSchema, secAggFracBits } from "../../../coordinator/src/secagg-config.js";

/** The plan's `secureAggregation`: every misconfiguration is refused when the plan loads, in words. */
function problems(input: Record<string, unknown>): string[] {
  const result = PlanSchema.safeParse({
    phases: [{ name: "p", task: "classify", rounds: 1 }],
    minSites: 3,
    ...input,
  });
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("secureAggregation in a plan", () => {
  it("is off unless configured, and its defaults fit the bit budget", () => {
    expect(
      PlanSchema.parse({ phases: [{ name: "p", task: "classify", rounds: 1 }] }).secureAggregation,
    ).toBeUndefined();
    expect(problems({ secureAggregation: {} })).toEqual([]);
    const config = SecureAggregationConfigSchema.parse({});
    // 100 sites × clip 1 × 2^f ≤ 2^31 − 1: f = 24 is the largest (100 · 2^24 ≈ 1.68e9, 100 · 2^25 ≈ 3.36e9).
    expect(secAggFracBits(config)).toBe(24);
  });

  it("refuses robust strategies, which need each site's update", () => {
    expect(problems({ secureAggregation: {}, strategy: { name: "median" } })).toEqual([
      expect.stringMatching(
        /^strategy: median needs each site's update, but secure aggregation reveals only their sum/,
      ),
    ]);
    expect(problems({ secureAggregation: {}, strategy: { name: "krum", byzantine: 0 } }).join()).toMatch(
      /krum needs each site's update/,
    );
    expect(problems({ secureAggregation: {}, strategy: { name: "fedadam" } })).toEqual([]);
  });

  it("refuses a threshold above the cohort and cohorts below three", () => {
    expect(problems({ secureAggregation: { threshold: 4 } })).toEqual([
      expect.stringMatching(
        /^secureAggregation\.threshold: threshold 4 is above the smallest cohort .*minSites 3/,
      ),
    ]);
    expect(problems({ minSites: 2, secureAggregation: {} })).toEqual([
      expect.stringMatching(/^minSites: secure aggregation needs at least 3 sites a round/),
    ]);
  });

  it("refuses a bit budget that overflows for the cohort, naming what would fit", () => {
    // 100 × 4 × 2^24 = 6.7e9 > 2^31 − 1; 2^22 is the most that fits clip 4.
    expect(problems({ secureAggregation: { clip: 4, fracBits: 24 } })).toEqual([
      expect.stringMatching(
        /^secureAggregation\.fracBits: .*the bit budget overflows: 100 clients × clip 4 × 2\^24 = 6710886400 > 2\^31 − 1 .*lower fracBits to 22 or less/,
      ),
    ]);
    expect(problems({ secureAggregation: { clip: 4, fracBits: 22 } })).toEqual([]);
  });

  it("leaves the round time for training and the four stages", () => {
    expect(problems({ roundTimeoutSec: 100, secureAggregation: { stageTimeoutSec: 30 } })).toEqual([
      expect.stringMatching(/^secureAggregation\.stageTimeoutSec: .*more than 4 × stageTimeoutSec \(120\)/),
    ]);
  });
});
