import { expect, it } from "vitest";
import { publishedTrainMetrics } from "../../../coordinator/src/privacy/dp-round.js";

it("publishes no exact clip count under DP: only the noised fraction may say how many sites were clipped", () => {
  const averaged = { loss: 0.8, "dp.unclipped": 2, "clip.clipped": 0.333, "clip.norm": 1.7, accuracy: 0.6 };
  expect(publishedTrainMetrics(averaged)).toEqual({ loss: 0.8, accuracy: 0.6 });
});
