/**
 * A custom strategy: FedAvg with every site weighed equally, whatever example count it reports.
 * A federation may want this when one large hospital would otherwise dominate the model, or when
 * the sites' counts cannot be trusted. Like FedAvg it folds each update in as it arrives (one
 * running mean, not the round's deltas), then takes the plain server step.
 *
 * To ship it: move this file to coordinator/src/strategy/uniform-fedavg.ts and add
 * `{ name: "uniform-fedavg" }` to `StrategyConfigSchema` and a `case "uniform-fedavg"` to
 * `createStrategy` in coordinator/src/strategy/registry.ts (docs/extending.md). Run
 * `npx tsx examples/uniform-fedavg-strategy.ts` to compare it with FedAvg.
 */
import { applyAggregate, createFedAvg } from "../coordinator/src/strategy/fedavg.js";
import { MeanDeltaCollector } from "../coordinator/src/strategy/mean-delta.js";
import type { RoundAggregation, Strategy } from "../coordinator/src/strategy/strategy.js";
import { createManifest } from "../shared/src/weights/index.js";
import type { ModelWeights } from "../shared/src/weights/types.js";

export function createUniformFedAvg(): Strategy {
  return {
    name: "uniform-fedavg",
    beginRound(global: ModelWeights): RoundAggregation {
      const collector = new MeanDeltaCollector(global.values.length);
      let reportedExamples = 0;
      return {
        accept(update) {
          // A weight of 1 for everyone; the reported count is kept only for the round's metrics.
          collector.accept({ ...update, numExamples: 1 });
          reportedExamples += update.numExamples;
        },
        get acceptedCount() {
          return collector.count;
        },
        aggregate: () => ({ ...collector.aggregate(), totalExamples: reportedExamples }),
        step: (aggregate) => applyAggregate(global, aggregate),
      };
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const global: ModelWeights = {
    manifest: createManifest([{ name: "w", shape: [2] }]),
    values: Float32Array.from([0, 0]),
  };
  for (const strategy of [createFedAvg(), createUniformFedAvg()]) {
    const round = strategy.beginRound(global);
    round.accept({ siteId: "teaching-hospital", delta: Float32Array.from([1, 1]), numExamples: 900 });
    round.accept({ siteId: "community", delta: Float32Array.from([3, -1]), numExamples: 50 });
    round.accept({ siteId: "rural", delta: Float32Array.from([2, 0]), numExamples: 50 });
    const { weights } = round.step(round.aggregate());
    console.log(
      `${strategy.name.padEnd(14)} step: [${[...weights.values].map((v) => v.toFixed(2)).join(", ")}]`,
    );
  }
  console.log("(900, 50 and 50 examples: FedAvg follows the teaching hospital, uniform-fedavg all three)");
}
