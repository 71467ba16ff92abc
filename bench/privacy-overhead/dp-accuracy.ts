import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deserializeWeights, selectTensors } from "../../shared/src/weights/index.js";

const FL = fileURLToPath(new URL("../../bin/fl.js", import.meta.url));

/** One `fl simulate` run of the DP-accuracy part: its setting and what its final model scored. */
export interface DpRun {
  /** null: no DP. */
  readonly epsilonTarget: number | null;
  readonly seed: number;
  readonly status: string;
  readonly rounds: number;
  readonly accuracy: number;
  readonly macroF1: number;
  readonly perSiteMacroF1: Record<string, number>;
  /** Macro-F1 of always answering the test sets' most frequent class: what "no skill" scores. */
  readonly majorityMacroF1: number;
  /** ε after the last round as the run's accountant reports it (rounds.json), null without DP. */
  readonly epsilon: number | null;
  readonly noiseMultiplier: number | null;
  /** Mean over rounds of the clipping norm C (adaptive by default). */
  readonly meanClipNorm: number | null;
  /** Per-coordinate std of the noise on the mean update, z·C/m, mean over rounds. */
  readonly meanNoiseStd: number | null;
  /** Shared parameters P of the model: the noise's norm grows like √P. */
  readonly parameters: number;
  readonly cohort: number;
  readonly durationSec: number;
}

export interface DpRunOptions {
  readonly epsilonTarget: number | null;
  readonly seed: number;
  readonly rounds: number;
  readonly out: string;
  /** Extra `fl simulate` flags (the quick mode shrinks the data). */
  readonly extraFlags: readonly string[];
  readonly log: (line: string) => void;
}

/** Runs `fl simulate` for one setting (in its own process tree, as a user would) and reads its results. */
export async function runDpSimulation(options: DpRunOptions): Promise<DpRun> {
  const args = [
    FL,
    "simulate",
    "--rounds",
    String(options.rounds),
    "--seed",
    String(options.seed),
    // Evaluation-side only: the reference hospital at the coordinator costs time and changes no weight.
    "--no-central-eval",
    ...(options.epsilonTarget === null
      ? []
      : [
          "--dp-epsilon",
          String(options.epsilonTarget),
          // The budget a hair above the target: composing round by round can land a rounding error
          // past the target in the last round, which would end the run before its final evaluation.
          "--dp-budget",
          String(options.epsilonTarget * (1 + 1e-3)),
        ]),
    ...options.extraFlags,
    "--out",
    options.out,
  ];
  const started = Date.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "1" },
    });
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      err = (err + chunk.toString("utf8")).slice(-4000);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err = (err + chunk.toString("utf8")).slice(-4000);
    });
    child.once("error", reject);
    child.once("exit", (exitCode) => resolve({ code: exitCode, stderr: err }));
  });
  const evaluationFile = join(options.out, "evaluation.json");
  if (!existsSync(evaluationFile))
    throw new Error(
      `fl simulate ${args.slice(2).join(" ")} exited ${code} without a final evaluation:\n${stderr}`,
    );
  const run = readRunResults(options.out);
  options.log(
    `  dp ${options.epsilonTarget === null ? "none" : `ε=${options.epsilonTarget}`} seed ${options.seed}: ` +
      `macro-F1 ${run.macroF1.toFixed(3)}, accuracy ${run.accuracy.toFixed(3)} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  return { ...run, epsilonTarget: options.epsilonTarget, seed: options.seed };
}

interface RoundJson {
  readonly metrics: Record<string, number>;
}

interface PooledJson {
  readonly accuracy: number;
  readonly macroF1: number;
  readonly confusion: number[][];
}

/** What a finished run folder says about its final model and its privacy. */
export function readRunResults(dir: string): Omit<DpRun, "epsilonTarget" | "seed"> {
  const evaluation = JSON.parse(readFileSync(join(dir, "evaluation.json"), "utf8")) as {
    pooled: PooledJson;
    perSite: Record<string, PooledJson>;
  };
  const rounds = JSON.parse(readFileSync(join(dir, "rounds.json"), "utf8")) as RoundJson[];
  const runJson = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as {
    status: string;
    durationSec: number;
  };
  const metric = (name: string) =>
    rounds.map((r) => r.metrics[name]).filter((v): v is number => typeof v === "number");
  const mean = (values: number[]) =>
    values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
  const epsilons = metric("privacy.epsilon");
  const noise = metric("privacy.noiseMultiplier");
  const v0 = deserializeWeights(readFileSync(join(dir, "checkpoints", "model-v00000.flw")));
  return {
    status: runJson.status,
    rounds: rounds.length,
    accuracy: evaluation.pooled.accuracy,
    macroF1: evaluation.pooled.macroF1,
    perSiteMacroF1: Object.fromEntries(
      Object.entries(evaluation.perSite).map(([site, e]) => [site, e.macroF1]),
    ),
    majorityMacroF1: majorityMacroF1(evaluation.pooled.confusion),
    epsilon: epsilons.at(-1) ?? null,
    noiseMultiplier: noise.at(-1) ?? null,
    meanClipNorm: mean(metric("privacy.clipNorm")),
    meanNoiseStd: mean(metric("privacy.noiseStd")),
    parameters: selectTensors(v0, "shared").values.length,
    cohort: metric("privacy.cohort").at(-1) ?? Object.keys(evaluation.perSite).length,
    durationSec: runJson.durationSec,
  };
}

/**
 * Macro-F1 of predicting the most frequent true class for every image of a confusion matrix
 * (rows true): that class has F1 2n/(N+n), the others 0.
 */
export function majorityMacroF1(confusion: readonly (readonly number[])[]): number {
  const rows = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const total = rows.reduce((a, b) => a + b, 0);
  const most = Math.max(...rows);
  return total === 0 ? 0 : (2 * most) / (total + most) / confusion.length;
}
