/**
 * node --import tsx bench/privacy-overhead.ts [--quick] [--parts secagg,dp] [--results DIR] …
 *
 * What privacy costs (issue 9, item 5), in two parts:
 *
 * secagg: secure aggregation against plain FedAvg in real federations over loopback gRPC, the
 *   coordinator in its own process, n scripted sites (production gRPC client, session, sealing
 *   and secure-aggregation session) whose training is a fixed delta. Per round: non-training
 *   time (round wall time at the coordinator less the longest local training), bytes each site
 *   sends and receives on its own connection from task to the end of its part (download, upload
 *   and every secure-aggregation exchange, counted on the wire by a relay), and the
 *   coordinator's peak RSS. Plain and secure runs alternate; medians over rounds and runs.
 * dp: `fl simulate` (the default federation, more rounds) without DP and at ε targets, macro-F1
 *   and accuracy of the final model on the sites' test sets.
 *
 * Writes <results>/privacy-overhead.json and .md (default bench/results). With --parts, the
 * part not run is kept from the existing JSON (its own date says when it was measured);
 * --parts none only writes the Markdown again from the JSON. The full run took about 11 minutes
 * (secagg) and 25 (dp, its four simulations side by side with --dp-parallel) on 2 loaded cores.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../shared/src/io/atomic-file.js";
import { machineInfo } from "./machine.js";
import { type DpRun, runDpSimulation } from "./privacy-overhead/dp-accuracy.js";
import { runFederation } from "./privacy-overhead/federation.js";
import {
  type DpRow,
  dpTable,
  type FederationSample,
  type OverheadRow,
  overheadTable,
  phaseTable,
  summariseDp,
  summariseOverhead,
} from "./privacy-overhead/summary.js";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    parts: { type: "string", default: "secagg,dp" },
    sizes: { type: "string" },
    params: { type: "string" },
    rounds: { type: "string" },
    reps: { type: "string" },
    /** Parameter counts also run at n = 10 (one repetition each); "" for none. */
    big: { type: "string" },
    "dp-rounds": { type: "string" },
    "dp-seeds": { type: "string" },
    epsilons: { type: "string" },
    "dp-parallel": { type: "boolean", default: false },
    results: { type: "string", default: join(dirname(fileURLToPath(import.meta.url)), "results") },
  },
});
const quick = args.quick;
const list = (text: string) => text.split(",").filter(Boolean).map(Number);
const settings = {
  sizes: list(args.sizes ?? (quick ? "3" : "3,10,25,50")),
  parameters: Number(args.params ?? (quick ? "1000" : "100000")),
  rounds: Number(args.rounds ?? (quick ? "1" : "2")),
  repetitions: Number(args.reps ?? (quick ? "1" : "2")),
  big: list(args.big ?? (quick ? "" : "10000000")),
  dpRounds: Number(args["dp-rounds"] ?? (quick ? "1" : "12")),
  dpSeeds: list(args["dp-seeds"] ?? "7"),
  epsilons: list(args.epsilons ?? (quick ? "8" : "8,3,1")),
  // The quick mode shrinks the data so that a simulation takes seconds; the full one is the default federation.
  dpExtraFlags: quick ? ["--images-per-site", "16", "--image-size", "16"] : [],
};
/** "none": no part runs; the tables are written again from the JSON (after a change to their text). */
const parts = new Set(args.parts === "none" ? [] : args.parts.split(","));
const numbers = [
  ...settings.sizes,
  settings.parameters,
  settings.rounds,
  settings.repetitions,
  ...settings.big,
  settings.dpRounds,
  ...settings.dpSeeds,
];
if (
  numbers.some((v) => !Number.isSafeInteger(v) || v < 0) ||
  settings.sizes.some((n) => n < 3) ||
  settings.epsilons.some((e) => !(e > 0)) ||
  [...parts].some((p) => p !== "secagg" && p !== "dp")
)
  throw new Error(
    "--sizes (each ≥ 3, the smallest secure-aggregation cohort), --params, --rounds, --reps, --big, --dp-rounds and --dp-seeds take non-negative integers, --epsilons positive numbers, --parts secagg and/or dp (or none)",
  );

const started = Date.now();
const load: number[][] = [loadavg()];
const sampler = setInterval(() => load.push(loadavg()), 30_000);
const log = (line: string) => process.stderr.write(`${line}\n`);

interface SecAggPart {
  readonly date: string;
  readonly machine: ReturnType<typeof machineInfo>;
  readonly load: number[][];
  readonly seconds: number;
  readonly settings: {
    sizes: number[];
    parameters: number;
    rounds: number;
    repetitions: number;
    big: number[];
  };
  readonly rows: OverheadRow[];
  readonly targets: ReturnType<typeof checkTargets>;
  /** Runs that failed and were run again (the sample is the retry's), with why. */
  readonly failures: string[];
  readonly samples: FederationSample[];
}

interface DpPart {
  readonly date: string;
  readonly machine: ReturnType<typeof machineInfo>;
  readonly load: number[][];
  readonly seconds: number;
  readonly settings: {
    rounds: number;
    seeds: number[];
    epsilons: number[];
    extraFlags: string[];
    parallel: boolean;
  };
  readonly rows: DpRow[];
  readonly runs: DpRun[];
}

async function secAggPart(): Promise<SecAggPart> {
  const t0 = Date.now();
  const partLoad: number[][] = [loadavg()];
  const samples: FederationSample[] = [];
  const failures: string[] = [];
  const grid = [
    ...settings.sizes.map((n) => ({
      n,
      parameters: settings.parameters,
      reps: settings.repetitions,
      rounds: settings.rounds,
    })),
    // The large models once each way, one round: on this machine that is minutes already.
    ...settings.big.map((parameters) => ({ n: 10, parameters, reps: 1, rounds: 1 })),
  ];
  for (const { n, parameters, reps, rounds } of grid)
    for (let repetition = 0; repetition < reps; repetition++)
      // Alternate, and swap who goes first each repetition, so a load change hits both alike.
      for (const mode of repetition % 2 === 0
        ? (["plain", "secagg"] as const)
        : (["secagg", "plain"] as const)) {
        const sample = await withRetry(
          () => runFederation({ mode, n, parameters, rounds, repetition }),
          `${mode} n=${n} P=${parameters} rep ${repetition}`,
          failures,
        );
        samples.push(sample);
        partLoad.push(loadavg());
        const r = sample.rounds;
        log(
          `  ${mode} n=${n} P=${parameters} rep ${repetition}: non-training ms ${r.map((x) => x.nonTrainingMs.toFixed(0)).join("/")}, ` +
            `sent KiB ${r.map((x) => (x.clientSentBytes / 1024).toFixed(0)).join("/")}, coordinator peak ${sample.coordinatorPeakRssMiB.toFixed(0)} MiB`,
        );
      }
  const rows = summariseOverhead(samples);
  return {
    date: new Date(t0).toISOString(),
    machine: machineInfo(),
    load: partLoad,
    seconds: (Date.now() - t0) / 1000,
    settings: {
      sizes: settings.sizes,
      parameters: settings.parameters,
      rounds: settings.rounds,
      repetitions: settings.repetitions,
      big: settings.big,
    },
    rows,
    targets: checkTargets(rows),
    failures,
    samples,
  };
}

/**
 * Runs a federation again once if it fails: on 2 loaded cores a site process whose event loop is
 * busy with other sites' maths can miss gRPC keepalive acks, and the connection drops. Failures
 * are kept in the results, not hidden.
 */
async function withRetry<T>(run: () => Promise<T>, what: string, failures: string[]): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const message = `${what}: ${(error as Error).message.split("\n")[0]}`;
    failures.push(message);
    log(`  failed, running it again: ${message}`);
    return run();
  }
}

/** The issue's targets, read off the rows: at 10 sites and the most parameters measured there. */
function checkTargets(rows: readonly OverheadRow[]) {
  const atTen = rows.filter((r) => r.n === 10).sort((a, b) => b.parameters - a.parameters)[0];
  const main = rows.filter((r) => r.parameters === settings.parameters).sort((a, b) => a.n - b.n);
  const smallest = main[0];
  const largest = main.at(-1);
  return {
    atTenSites: atTen
      ? {
          parameters: atTen.parameters,
          clientBytesRatio: atTen.ratio.clientSentBytes,
          clientBytesTarget: 1.2,
          clientBytesMet: atTen.ratio.clientSentBytes <= 1.2,
          nonTrainingRatio: atTen.ratio.nonTrainingMs,
          nonTrainingTarget: 2,
          nonTrainingMet: atTen.ratio.nonTrainingMs <= 2,
        }
      : null,
    coordinatorMemory:
      smallest && largest && smallest !== largest
        ? {
            fromN: smallest.n,
            toN: largest.n,
            secaggPeakRssMiB: [smallest.secagg.coordinatorPeakRssMiB, largest.secagg.coordinatorPeakRssMiB],
            plainPeakRssMiB: [smallest.plain.coordinatorPeakRssMiB, largest.plain.coordinatorPeakRssMiB],
          }
        : null,
  };
}

async function dpPart(): Promise<DpPart> {
  const t0 = Date.now();
  const partLoad: number[][] = [loadavg()];
  const work = mkdtempSync(join(tmpdir(), "fl-privacy-overhead-"));
  const runs: DpRun[] = [];
  try {
    // Evaluation-side only: no evaluation between rounds, the final model's is the one reported.
    const config = join(work, "simulation.json");
    writeFileAtomic(config, JSON.stringify({ evaluateEvery: 0 }));
    const one = (seed: number, epsilonTarget: number | null) =>
      runDpSimulation({
        epsilonTarget,
        seed,
        rounds: settings.dpRounds,
        out: join(work, `${epsilonTarget === null ? "none" : `eps-${epsilonTarget}`}-seed-${seed}`),
        extraFlags: ["--config", config, ...settings.dpExtraFlags],
        log,
      });
    for (const seed of settings.dpSeeds) {
      const targets = [null, ...settings.epsilons];
      // The settings of a seed run side by side (--dp-parallel): each is its own federation of processes.
      if (args["dp-parallel"]) runs.push(...(await Promise.all(targets.map((t) => one(seed, t)))));
      else for (const t of targets) runs.push(await one(seed, t));
      partLoad.push(loadavg());
    }
    rmSync(work, { recursive: true, force: true });
  } catch (error) {
    log(`  the run folders are kept in ${work} to see why`);
    throw error;
  }
  return {
    date: new Date(t0).toISOString(),
    machine: machineInfo(),
    load: partLoad,
    seconds: (Date.now() - t0) / 1000,
    settings: {
      rounds: settings.dpRounds,
      seeds: settings.dpSeeds,
      epsilons: settings.epsilons,
      extraFlags: settings.dpExtraFlags,
      parallel: Boolean(args["dp-parallel"]),
    },
    rows: summariseDp(runs),
    runs,
  };
}

interface Results {
  readonly bench: "privacy-overhead";
  readonly quick: boolean;
  readonly secagg: SecAggPart | null;
  readonly dp: DpPart | null;
}

const jsonPath = join(args.results, "privacy-overhead.json");
/** The results file as it is now (read at the end, so that two parts run at once keep each other's). */
const previous = (): Partial<Results> => {
  try {
    return JSON.parse(readFileSync(jsonPath, "utf8")) as Results;
  } catch {
    return {};
  }
};

try {
  log(
    `privacy overhead${quick ? " (quick)" : ""}: parts ${[...parts].join(", ")}, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  const secagg = parts.has("secagg") ? await secAggPart() : undefined;
  const dp = parts.has("dp") ? await dpPart() : undefined;
  const kept = previous();
  const results: Results = {
    bench: "privacy-overhead",
    quick,
    secagg: secagg ?? kept.secagg ?? null,
    dp: dp ?? kept.dp ?? null,
  };
  const md = markdown(results);
  process.stdout.write(`${md}\n`);
  mkdirSync(args.results, { recursive: true });
  writeFileAtomic(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  writeFileAtomic(join(args.results, "privacy-overhead.md"), `${md}\n`);
  log(`wrote ${jsonPath} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
} finally {
  clearInterval(sampler);
}

function loadLine(part: { load: number[][]; machine: { logicalCores: number } }): string {
  const ones = part.load.map((l) => l[0] as number);
  return `1-minute load average ${Math.min(...ones).toFixed(1)}–${Math.max(...ones).toFixed(1)} on ${part.machine.logicalCores} cores (other work shared the machine: another helper ran \`fl bench paper\`)`;
}

function markdown(results: Results): string {
  const out: string[] = ["# Privacy overheads (issue 9, item 5)", ""];
  out.push(
    "Produced by `node --import tsx bench/privacy-overhead.ts`; raw figures in privacy-overhead.json.",
    "",
  );
  const s = results.secagg;
  if (s) {
    out.push(
      "## Secure aggregation vs plain FedAvg, loopback gRPC",
      "",
      `Measured ${s.date}, ${s.seconds.toFixed(0)} s; ${loadLine(s)}. ${s.settings.rounds} round${s.settings.rounds === 1 ? "" : "s"} a run, ` +
        `${s.settings.repetitions} alternating plain/secagg runs per size (one run of one round each way for the large models); medians over all rounds. ` +
        "Coordinator in its own process (production Coordinator, SQLite, gRPC); the sites are the production gRPC client, " +
        "session, sealing and secure-aggregation session in one process, with a fixed delta as training. Every site is in " +
        "every round. Bytes: what one site sent (and received) on its own TCP connection from getting its task to the end " +
        "of its part, counted on the wire (download, upload, every protocol exchange and long poll, HTTP/2 framing). " +
        "Non-training time: the round's wall time at the coordinator (tasks posted to model committed) less the " +
        "longest local training. RSS added by rounds: peak less the RSS once listening. " +
        "All sites share one process and the machine's 2 loaded cores, so their work (sealing, and with secure " +
        "aggregation key agreement, shares and masking) runs one after another: both modes' times grow with n for that " +
        "reason, and are upper bounds on a real federation's, where each site computes on its own machine. The ratio is " +
        "the figure to read; the large-model rows are one run each way and within the noise of the load.",
      "",
      overheadTable(s.rows),
      "",
      "Where a round's time goes (coordinator's log, ms after its tasks were posted; medians):",
      "",
      phaseTable(s.rows),
      "",
    );
    const t = s.targets;
    if (t.atTenSites)
      out.push(
        `Targets at 10 sites, ${t.atTenSites.parameters.toLocaleString("en")} parameters: client bytes ` +
          `${t.atTenSites.clientBytesRatio.toFixed(3)}× (target ≤ 1.2×: ${t.atTenSites.clientBytesMet ? "met" : "not met"}), ` +
          `non-training time ${t.atTenSites.nonTrainingRatio.toFixed(2)}× (target ≤ 2×: ${t.atTenSites.nonTrainingMet ? "met" : "not met"}).`,
      );
    if (t.coordinatorMemory)
      out.push(
        `Coordinator peak RSS from n = ${t.coordinatorMemory.fromN} to ${t.coordinatorMemory.toN}: secure aggregation ` +
          `${t.coordinatorMemory.secaggPeakRssMiB.map((v) => v.toFixed(0)).join(" → ")} MiB, plain ` +
          `${t.coordinatorMemory.plainPeakRssMiB.map((v) => v.toFixed(0)).join(" → ")} MiB.`,
      );
    if (s.failures.length > 0)
      out.push(`Runs that failed once and were run again: ${s.failures.join("; ")}.`);
    out.push("");
  }
  const d = results.dp;
  if (d) {
    out.push(
      "## Differential privacy: accuracy at ε targets",
      "",
      `Measured ${d.date}, ${d.seconds.toFixed(0)} s; ${loadLine(d)}. \`fl simulate --rounds ${d.settings.rounds} --seed S ` +
        `--no-central-eval [--dp-epsilon ε]${d.settings.extraFlags.length ? ` ${d.settings.extraFlags.join(" ")}` : ""}\` ` +
        `with the budget (--dp-budget) 0.1% above the ε target and evaluateEvery 0 (final evaluation only)${d.settings.parallel ? ", the settings of a seed side by side" : ""} ` +
        "(the default 3-hospital federation otherwise: central DP, adaptive clipping, δ = 1e-5, every hospital in every round); " +
        "final model on the hospitals' pooled test sets, mean over seeds.",
      "",
      dpTable(d.rows),
      "",
      "This is site-level DP (a hospital's whole update is the unit protected) with 3 hospitals, every one in every round: " +
        "nothing is amplified by sampling, and the noise on the mean update has norm about z·C·√P/m against a signal of at " +
        "most C (m = 3 clipped updates of norm C pointing the same way), a ratio of z·√P/m (last column). With P in the " +
        "tens of thousands that ratio is far above 1 at any useful ε, so utility is expected to fall to about the " +
        "majority-class score (a model that always answers the commonest class). DP at these ε needs hundreds or " +
        "thousands of sites a round, or record-level DP inside each site; with three hospitals site-level DP is a " +
        "statement about what not to expect.",
      "",
      dpVerdict(d.rows),
      "",
    );
  }
  return out.join("\n");
}

/** What the DP rows show, in words, from the numbers themselves. */
function dpVerdict(rows: readonly DpRow[]): string {
  const none = rows.find((r) => r.epsilonTarget === null);
  const dp = rows.filter((r) => r.epsilonTarget !== null);
  if (!none || dp.length === 0) return "";
  const parts = dp.map(
    (r) =>
      `ε = ${r.epsilonTarget}: macro-F1 ${r.macroF1.toFixed(3)} (${r.macroF1 - none.macroF1 >= 0 ? "+" : ""}${(r.macroF1 - none.macroF1).toFixed(3)}; ` +
      `majority class ${r.majorityMacroF1.toFixed(3)}), z·√P/m ≈ ${r.noiseToSignal?.toFixed(0)}`,
  );
  return `Measured: without DP macro-F1 ${none.macroF1.toFixed(3)}, accuracy ${none.accuracy.toFixed(3)}; ${parts.join("; ")}.`;
}
