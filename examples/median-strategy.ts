/**
 * A custom strategy: the coordinate-wise median of the round's deltas (Yin et al. 2018), robust
 * to a minority of sites sending arbitrary updates. It keeps every delta of the round in memory
 * (a median cannot be folded in one update at a time), then takes the plain server step.
 *
 * To ship it: move this file to coordinator/src/strategy/median.ts and add `{ name: "median" }`
 * to `StrategyConfigSchema` and a `case "median"` to `createStrategy` in
 * coordinator/src/strategy/registry.ts (docs/extending.md). Run `npx tsx examples/median-strategy.ts`
 * to see it outvote an outlier.
 */
import { applyAggregate } from "../coordinator/src/strategy/fedavg.js";
import type { RoundAggregation, Strategy, UpdateContribution } from "../coordinator/src/strategy/strategy.js";
import { ErrorCode, FlError } from "../shared/src/errors.js";
import { createManifest } from "../shared/src/weights/index.js";
import type { ModelWeights } from "../shared/src/weights/types.js";

export function createCoordinateMedian(): Strategy {
  return {
    name: "median",
    beginRound(global: ModelWeights): RoundAggregation {
      const deltas: UpdateContribution[] = [];
      return {
        accept(update) {
          if (update.delta.length !== global.values.length)
            throw new FlError(ErrorCode.WeightsShapeMismatch, `update has ${update.delta.length} values`);
          deltas.push(update);
        },
        get acceptedCount() {
          return deltas.length;
        },
        aggregate() {
          if (deltas.length === 0)
            throw new FlError(ErrorCode.FailedPrecondition, "no update was accepted this round");
          const median = new Float32Array(global.values.length);
          const column = new Float64Array(deltas.length);
          for (let i = 0; i < median.length; i++) {
            deltas.forEach((d, k) => {
              column[k] = d.delta[i] as number;
            });
            column.sort();
            const mid = column.length >> 1;
            median[i] =
              column.length % 2 === 1
                ? (column[mid] as number)
                : ((column[mid - 1] as number) + (column[mid] as number)) / 2;
          }
          const totalExamples = deltas.reduce((sum, d) => sum + d.numExamples, 0);
          return { meanDelta: median, count: deltas.length, totalExamples };
        },
        step: (aggregate) => applyAggregate(global, aggregate),
      };
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const global: ModelWeights = {
    manifest: createManifest([{ name: "w", shape: [2], sharing: "shared" }]),
    values: Float32Array.from([0, 0]),
  };
  const round = createCoordinateMedian().beginRound(global);
  round.accept({ siteId: "a", delta: Float32Array.from([1, 1]), numExamples: 10 });
  round.accept({ siteId: "b", delta: Float32Array.from([2, 1]), numExamples: 10 });
  round.accept({ siteId: "attacker", delta: Float32Array.from([1000, -1000]), numExamples: 10 });
  const { weights } = round.step(round.aggregate());
  console.log(`median step: [${[...weights.values].join(", ")}] (the mean would be [334.33, -332.67])`);
}
