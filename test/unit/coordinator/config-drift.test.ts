import { describe, expect, it } from "vitest";
import { configDrift } from "../../../coordinator/src/config-drift.js";

describe("configDrift", () => {
  it("is empty for equal settings, whatever the key order", () => {
    expect(configDrift({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
  });

  it("names each changed leaf by its path, with both values", () => {
    const before = {
      model: { widths: [16, 32], imageSize: 32 },
      plan: { phases: [{ rounds: 3, task: "classify" }] },
    };
    const after = {
      model: { widths: [16, 64], imageSize: 32 },
      plan: { phases: [{ rounds: 5, task: "classify" }] },
    };
    expect(configDrift(before, after)).toEqual([
      "model.widths[1]: 32 -> 64",
      "plan.phases[0].rounds: 3 -> 5",
    ]);
  });

  it("shows a list whose length changed whole, and settings added or removed", () => {
    expect(configDrift({ w: [1], s: 1 }, { w: [1, 2], t: true })).toEqual([
      "s: 1 -> (not set)",
      "t: (not set) -> true",
      "w: [1] -> [1,2]",
    ]);
  });
});
