/**
 * npm run bench:aggregation [-- --params 295000,11200000 --sites 5,10,20 --runs 3 --no-write]
 *
 * The coordinator's cost of one round's aggregation (accept every update, aggregate, server
 * step) for FedAvg and the robust strategies, at the parameter counts of the small CNN (~295k)
 * and of ResNet-18 (~11.2M): a table on stdout and JSON in bench/results/
 * (aggregation-<date>.json and aggregation-latest.json). Each cell is the median of `runs`
 * rounds, and its ratio to FedAvg's median in the same run. About 2 minutes on 2 cores. Krum tolerates the most attackers
 * n allows, f = ⌊(n − 3) / 2⌋; multi-Krum averages m = n − f.
 */
import { parseArgs } from "node:util";
import { createFedAvg } from "../coordinator/src/strategy/fedavg.js";
import { createKrum } from "../coordinator/src/strategy/krum.js";
import { createMedian } from "../coordinator/src/strategy/median.js";
import type { Strategy } from "../coordinator/src/strategy/strategy.js";
import { createTrimmedMean } from "../coordinator/src/strategy/trimmed-mean.js";
import { Rng } from "../shared/src/random.js";
import { createManifest } from "../shared/src/weights/index.js";
import type { ModelWeights } from "../shared/src/weights/types.js";
import { machineInfo, writeBenchResult } from "./machine.js";

const { values: args } = parseArgs({
  options: {
    params: { type: "string", default: "295000,11200000" },
    sites: { type: "string", default: "5,10,20" },
    runs: { type: "string", default: "3" },
    "no-write": { type: "boolean", default: false },
  },
});
const paramCounts = args.params.split(",").map(Number);
const siteCounts = args.sites.split(",").map(Number);
const runs = Number(args.runs);
const log = (line: string) => console.error(line);

const byzantineFor = (n: number) => Math.floor((n - 3) / 2);
const STRATEGIES: readonly { readonly name: string; readonly create: (n: number) => Strategy }[] = [
  { name: "fedavg", create: () => createFedAvg() },
  { name: "median", create: () => createMedian() },
  { name: "trimmed-mean β=0.2", create: () => createTrimmedMean({ trimFraction: 0.2 }) },
  { name: "krum", create: (n) => createKrum({ byzantine: byzantineFor(n), select: 1 }) },
  {
    name: "multi-krum m=n−f",
    create: (n) => createKrum({ byzantine: byzantineFor(n), select: n - byzantineFor(n) }),
  },
];

interface Row {
  readonly strategy: string;
  readonly parameters: number;
  readonly sites: number;
  readonly runsMs: number[];
  readonly medianMs: number;
  readonly ratioToFedAvg: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** One round: every update accepted, aggregated and stepped; wall time in ms. */
function timeRound(strategy: Strategy, global: ModelWeights, deltas: readonly Float32Array[]): number {
  const start = performance.now();
  const round = strategy.beginRound(global);
  deltas.forEach((delta, k) => {
    round.accept({ siteId: `site-${k}`, delta, numExamples: 100 + k });
  });
  round.step(round.aggregate());
  return performance.now() - start;
}

const rows: Row[] = [];
const maxSites = Math.max(...siteCounts);
for (const parameters of paramCounts) {
  const rng = new Rng(parameters);
  const global: ModelWeights = {
    manifest: createManifest([{ name: "w", shape: [parameters] }]),
    values: Float32Array.from({ length: parameters }, () => rng.normal(0, 0.05)),
  };
  // Generated once per size; a round of n sites uses the first n.
  const deltas = Array.from({ length: maxSites }, () =>
    Float32Array.from({ length: parameters }, () => rng.normal(0, 0.01)),
  );
  for (const sites of siteCounts) {
    const round = deltas.slice(0, sites);
    let fedAvgMs = Number.NaN;
    for (const { name, create } of STRATEGIES) {
      // A first round under a second is a warm-up (JIT, page faults); a longer one is a run, since
      // warm-up is lost in it and repeating it would double the ResNet-18 rows' time.
      const first = timeRound(create(sites), global, round);
      const runsMs = first > 1000 ? [first] : [];
      while (runsMs.length < runs) runsMs.push(timeRound(create(sites), global, round));
      const medianMs = median(runsMs);
      if (name === "fedavg") fedAvgMs = medianMs;
      rows.push({ strategy: name, parameters, sites, runsMs, medianMs, ratioToFedAvg: medianMs / fedAvgMs });
      log(`${parameters} parameters, ${sites} sites, ${name}: ${medianMs.toFixed(1)} ms`);
    }
  }
}

const header = ["strategy", "parameters", "sites", "median ms", "× fedavg"];
const lines = rows.map((r) => [
  r.strategy,
  r.parameters.toLocaleString("en-US"),
  String(r.sites),
  r.medianMs.toFixed(1),
  r.ratioToFedAvg.toFixed(1),
]);
const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
const format = (cells: readonly string[]) =>
  cells
    .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)))
    .join("  ");
console.log([format(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(format)].join("\n"));

if (!args["no-write"]) {
  const report = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    timed:
      "beginRound + accept × n + aggregate + step, one thread; median of the runs, after a warm-up round for rounds under 1 s",
    runs,
    krumByzantine: "f = ⌊(n − 3) / 2⌋",
    rows,
  };
  log(`wrote ${writeBenchResult("aggregation", report)}`);
}
