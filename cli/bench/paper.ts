import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type EvaluationSummary, summariseEvaluations } from "../../coordinator/src/report.js";
import type { EvaluationRecord } from "../../coordinator/src/store/records.js";
import { listSites } from "../../shared/src/ml/data/index.js";
import { CLASS_KEYS } from "../../shared/src/ml/data/types.js";
import { type SimulationConfig, SimulationConfigSchema } from "../simulate/config.js";
import { runSimulation } from "../simulate/run-simulation.js";
import {
  federatedGrid,
  meanSd,
  modelFor,
  type PaperSizes,
  phasesFor,
  type Setting,
  scaledSizes,
  settingName,
} from "./paper-grid.js";
import { renderBarChart } from "./plot.js";

export interface PaperBenchOptions {
  readonly outDir: string;
  readonly scale: number;
  readonly seeds: readonly number[];
  readonly preset: string;
  readonly backend: string;
  readonly say: (line: string) => void;
}

/** The numbers a run contributes to the table. */
export interface RunMetrics {
  readonly macroF1: number;
  readonly accuracy: number;
  readonly mAP: number;
  readonly macroAuc: number;
  readonly dice: number;
  readonly f1: Readonly<Record<string, number>>;
}

interface Row {
  readonly name: string;
  readonly kind: "federated" | "centralised" | "local-only";
  readonly runs: Array<{ seed: number; metrics: RunMetrics; seconds: number }>;
}

const METRIC_KEYS = ["macroF1", "mAP", "macroAuc", "dice"] as const;

/**
 * Runs the paper's comparison: every setting of the grid for every seed as a real federated
 * simulation (a coordinator and one process per hospital over gRPC), then the best setting
 * centralised (all hospitals' images pooled at one site) and local-only (each hospital alone).
 * A run whose folder already has results is not repeated, so an interrupted benchmark resumes.
 */
export async function runPaperBench(options: PaperBenchOptions): Promise<{ rows: Row[]; seconds: number }> {
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const sizes = scaledSizes(options.scale);
  const started = Date.now();
  const synthetic = {
    kind: "synthetic",
    preset: options.preset,
    imagesPerSite: sizes.imagesPerSite,
    imageSize: sizes.imageSize,
  };
  const logFile = join(outDir, "runs.log");
  const write = (text: string) => appendFileSync(logFile, text);
  options.say(
    `paper benchmark: ${federatedGrid().length} settings × ${options.seeds.length} seeds on "${options.preset}", ${sizes.imageSize}px, ${sizes.imagesPerSite} images per site, ${sizes.encoder} encoder; logs in ${logFile}`,
  );

  const run = async (
    setting: Setting,
    seed: number,
    label: string,
    data: Record<string, unknown>,
    sites?: readonly string[],
  ) => {
    const dir = join(outDir, "runs", `${label}-seed${seed}`);
    const config = simulationConfig(setting, sizes, seed, { ...data, seed }, options.backend, label);
    const t0 = Date.now();
    const siteList = sites ?? (await listSites(config.data as Parameters<typeof listSites>[0]));
    if (!existsSync(join(dir, "evaluation.json")) || !completed(dir)) {
      const result = await runSimulation(config, siteList, { runDir: dir, interactive: false, write });
      if (result.status !== "completed")
        throw new Error(`run ${label} seed ${seed} failed; see ${join(dir, "logs")}`);
    }
    return { dir, seconds: (Date.now() - t0) / 1000 };
  };

  const rows: Row[] = [];
  for (const setting of federatedGrid()) {
    const row: Row = { name: settingName(setting), kind: "federated", runs: [] };
    for (const seed of options.seeds) {
      const { dir, seconds } = await run(setting, seed, row.name, synthetic);
      row.runs.push({ seed, metrics: metricsOf(readSummary([dir])), seconds });
      options.say(
        `  ${row.name} seed ${seed}: macro-F1 ${fmt(row.runs.at(-1)?.metrics.macroF1)} (${seconds.toFixed(0)} s)`,
      );
    }
    rows.push(row);
  }

  const best = [...rows].sort((a, b) => mean(b, "macroF1") - mean(a, "macroF1"))[0];
  if (best) {
    const setting = federatedGrid().find((s) => settingName(s) === best.name) as Setting;
    const central: Row = { name: `${best.name} centralised`, kind: "centralised", runs: [] };
    const local: Row = { name: `${best.name} local-only`, kind: "local-only", runs: [] };
    const hospitals = await listSites(synthetic as Parameters<typeof listSites>[0]);
    for (const seed of options.seeds) {
      // All hospitals' images at one site: the same images, no federation.
      const pooled = { ...synthetic, partition: { kind: "iid", sites: 1 } };
      const c = await run(setting, seed, `${best.name}-centralised`, pooled);
      central.runs.push({ seed, metrics: metricsOf(readSummary([c.dir])), seconds: c.seconds });
      // Each hospital trains alone and is tested on its own test split; pooled like the federation.
      const dirs: string[] = [];
      let seconds = 0;
      for (const hospital of hospitals) {
        const l = await run(setting, seed, `${best.name}-local-${hospital}`, synthetic, [hospital]);
        dirs.push(l.dir);
        seconds += l.seconds;
      }
      local.runs.push({ seed, metrics: metricsOf(readSummary(dirs)), seconds });
      options.say(
        `  baselines seed ${seed}: centralised ${fmt(central.runs.at(-1)?.metrics.macroF1)}, local-only ${fmt(local.runs.at(-1)?.metrics.macroF1)}`,
      );
    }
    rows.push(central, local);
  }

  const seconds = (Date.now() - started) / 1000;
  writeFileSync(
    join(outDir, "results.json"),
    `${JSON.stringify({ sizes, seeds: options.seeds, preset: options.preset, seconds, rows }, null, 2)}\n`,
  );
  const table = renderTable(rows, sizes, seconds);
  writeFileSync(join(outDir, "table.md"), table);
  writeFileSync(
    join(outDir, "macro-f1.png"),
    renderBarChart({
      title: "Macro-F1 (mean and SD over seeds)",
      bars: rows.map((r) => ({
        label: r.name,
        ...meanSd(r.runs.map((x) => x.metrics.macroF1)),
        group: r.kind,
      })),
    }),
  );
  options.say(table);
  return { rows, seconds };
}

function simulationConfig(
  setting: Setting,
  sizes: PaperSizes,
  seed: number,
  data: Record<string, unknown>,
  backend: string,
  label: string,
): SimulationConfig {
  const parsed = SimulationConfigSchema.parse({
    federationId: label.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64),
    imageSize: sizes.imageSize,
    imagesPerSite: sizes.imagesPerSite,
    evaluateEvery: 0,
    seed,
    backend,
    model: modelFor(sizes, seed + 11),
    phases: phasesFor(setting, sizes),
    data,
  });
  return { ...parsed, data };
}

function completed(dir: string): boolean {
  try {
    return (
      (JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { status: string }).status === "completed"
    );
  } catch {
    return false;
  }
}

/** Pools the final evaluations of one or more runs as one federation would (summed confusions and counts). */
function readSummary(dirs: readonly string[]): EvaluationSummary {
  const records: EvaluationRecord[] = dirs.flatMap((dir) => {
    const e = JSON.parse(readFileSync(join(dir, "evaluation.json"), "utf8")) as {
      round: number;
      modelVersion: number;
      perSite: Record<string, { count: number; confusion: number[][] }>;
      siteMetrics?: Record<string, Record<string, number>>;
    };
    return Object.entries(e.perSite).map(([siteId, r]) => ({
      round: e.round,
      modelVersion: 0,
      siteId: `${dir}:${siteId}`,
      split: "test",
      numExamples: r.count,
      confusion: r.confusion,
      metrics: e.siteMetrics?.[siteId] ?? {},
      receivedAtMs: 0,
    }));
  });
  const [summary] = summariseEvaluations(records);
  if (!summary) throw new Error(`no evaluation in ${dirs.join(", ")}`);
  return summary;
}

export function metricsOf(summary: EvaluationSummary): RunMetrics {
  return {
    macroF1: summary.pooled.macroF1,
    accuracy: summary.pooled.accuracy,
    mAP: summary.ranking?.mAP ?? Number.NaN,
    macroAuc: summary.ranking?.macroAuc ?? Number.NaN,
    dice: summary.segmentation?.globalDice ?? Number.NaN,
    f1: Object.fromEntries(summary.pooled.perClass.map((c, i) => [CLASS_KEYS[i] ?? c.name, c.f1])),
  };
}

function mean(row: Row, key: (typeof METRIC_KEYS)[number]): number {
  const m = meanSd(row.runs.map((r) => r.metrics[key])).mean;
  return Number.isNaN(m) ? -1 : m;
}

function fmt(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(3);
}

function cell(values: number[]): string {
  const { mean: m, sd, n } = meanSd(values);
  return n === 0 ? "n/a" : `${m.toFixed(3)} ± ${sd.toFixed(3)}`;
}

export function renderTable(rows: readonly Row[], sizes: PaperSizes, seconds: number): string {
  const lines = [
    `# Paper comparison (${sizes.imageSize}px, ${sizes.imagesPerSite} images per hospital, ${sizes.encoder} encoder, ${(seconds / 60).toFixed(1)} min)`,
    "",
    "| setting | runs | macro-F1 | mAP | macro ROC-AUC | Dice | F1 indeterminate | F1 atypical |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const pick = (f: (m: RunMetrics) => number) => cell(row.runs.map((r) => f(r.metrics)));
    lines.push(
      `| ${row.name} | ${row.runs.length} | ${pick((m) => m.macroF1)} | ${pick((m) => m.mAP)} | ${pick((m) => m.macroAuc)} | ${row.name.includes("-mtl-") ? pick((m) => m.dice) : "—"} | ${pick((m) => m.f1.indeterminate ?? Number.NaN)} | ${pick((m) => m.f1.atypical ?? Number.NaN)} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}
