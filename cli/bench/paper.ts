import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type EvaluationSummary, summariseEvaluations } from "../../coordinator/src/report.js";
import type { EvaluationRecord } from "../../coordinator/src/store/records.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { listSites } from "../../shared/src/ml/data/index.js";
import { CLASS_KEYS } from "../../shared/src/ml/data/types.js";
import { renderChartSvg } from "../report/vega.js";
import { type SimulationConfig, SimulationConfigSchema } from "../simulate/config.js";
import { runSimulation } from "../simulate/run-simulation.js";
import {
  chooseFolder,
  mismatchError,
  readRunRecord,
  runDrift,
  writeBenchFingerprint,
  writeRunRecord,
} from "./bench-folder.js";
import { paperFindings } from "./findings.js";
import type { BenchFingerprint, RunFingerprint } from "./fingerprint.js";
import { findingsChart, macroF1Chart } from "./paper-charts.js";
import {
  federatedGrid,
  modelFor,
  type PaperSizes,
  phasesFor,
  type Setting,
  scaledSizes,
  settingName,
} from "./paper-grid.js";
import type { BenchRow, PaperResults, RunMetrics } from "./paper-results.js";
import { renderFindings, renderTable, summariseRow } from "./paper-table.js";
import { CONFIDENCE, estimate } from "./stats.js";

export interface PaperBenchOptions {
  /** The folder asked for, or the default one (see `explicitOut`). */
  readonly outDir: string;
  /** An explicit --out is refused when it holds other settings; the default moves on to a new folder. */
  readonly explicitOut: boolean;
  /** Discard the folder's earlier results first. */
  readonly fresh: boolean;
  readonly scale: number;
  readonly seeds: readonly number[];
  readonly preset: string;
  readonly backend: string;
  /** A subset of the grid's settings by name (default: all of them). */
  readonly settings?: readonly string[];
  /** Also run the best setting centralised and local-only (default true). */
  readonly baselines?: boolean;
  /** The code's version as recorded in the fingerprints (see code-version.ts). */
  readonly codeVersion: string;
  readonly say: (line: string) => void;
}

export interface PaperBenchOutcome {
  readonly dir: string;
  readonly results: PaperResults;
}

/**
 * Runs the paper's comparison: every setting of the grid for every seed as a real federated
 * simulation (a coordinator and one process per hospital over gRPC), then the best setting
 * centralised (all hospitals' images pooled at one site) and local-only (each hospital alone).
 * A run is reused only when its folder records exactly these settings and this code version
 * (bench-run.json), so an interrupted benchmark resumes and a changed one never mixes results.
 */
export async function runPaperBench(options: PaperBenchOptions): Promise<PaperBenchOutcome> {
  const sizes = scaledSizes(options.scale);
  const fingerprint: BenchFingerprint = {
    benchmark: "paper",
    scale: options.scale,
    sizes,
    preset: options.preset,
    backend: options.backend,
    codeVersion: options.codeVersion,
  };
  const grid = selectSettings(options.settings);
  const { dir, drift } = chooseFolder({
    out: resolve(options.outDir),
    explicit: options.explicitOut,
    fresh: options.fresh,
    fingerprint,
  });
  if (drift.length > 0)
    options.say(
      `${resolve(options.outDir)} holds results with other settings (${drift.join("; ")}); writing to ${dir} instead`,
    );
  mkdirSync(dir, { recursive: true });
  writeBenchFingerprint(dir, fingerprint);

  const started = Date.now();
  const synthetic = {
    kind: "synthetic",
    preset: options.preset,
    imagesPerSite: sizes.imagesPerSite,
    imageSize: sizes.imageSize,
  };
  const logFile = join(dir, "runs.log");
  const write = (text: string) => appendFileSync(logFile, text);
  options.say(
    `paper benchmark: ${grid.length} settings × ${options.seeds.length} seeds on "${options.preset}", ${sizes.imageSize}px, ${sizes.imagesPerSite} images per site, ${sizes.encoder} encoder; in ${dir}, logs in ${logFile}`,
  );

  const run = async (
    setting: Setting,
    seed: number,
    label: string,
    data: Record<string, unknown>,
    sites?: readonly string[],
  ) => {
    const runDir = join(dir, "runs", `${label}-seed${seed}`);
    const config = simulationConfig(setting, sizes, seed, { ...data, seed }, options.backend, label);
    const siteList = sites ?? (await listSites(config.data as Parameters<typeof listSites>[0]));
    const runFingerprint: RunFingerprint = {
      ...fingerprint,
      label,
      seed,
      simulation: config,
      sites: siteList,
    };
    const changed = runDrift(runDir, runFingerprint);
    if (changed.length > 0) throw mismatchError(runDir, changed);
    const record = readRunRecord(runDir);
    if (completed(runDir) && existsSync(join(runDir, "evaluation.json")) && record?.seconds !== undefined)
      return { dir: runDir, seconds: record.seconds, reused: true };
    mkdirSync(runDir, { recursive: true });
    writeRunRecord(runDir, { fingerprint: runFingerprint });
    const t0 = Date.now();
    const result = await runSimulation(config, siteList, {
      runDir,
      interactive: false,
      write,
      afterRun: "report",
    });
    if (result.status !== "completed")
      throw new FlError(
        ErrorCode.Internal,
        `run ${label} seed ${seed} ${result.status}; see ${join(runDir, "logs")} (the same command resumes it)`,
      );
    const seconds = (Date.now() - t0) / 1000;
    writeRunRecord(runDir, { fingerprint: runFingerprint, seconds });
    return { dir: runDir, seconds, reused: false };
  };
  const note = (r: { seconds: number; reused: boolean }) =>
    `${r.seconds.toFixed(0)} s${r.reused ? ", reused" : ""}`;

  const rows: BenchRow[] = [];
  for (const setting of grid) {
    const row: BenchRow = { name: settingName(setting), kind: "federated", runs: [] };
    for (const seed of options.seeds) {
      const r = await run(setting, seed, row.name, synthetic);
      row.runs.push({ seed, metrics: metricsOf(readSummary([r.dir])), seconds: r.seconds, reused: r.reused });
      options.say(
        `  ${row.name} seed ${seed}: macro-F1 ${fmt(row.runs.at(-1)?.metrics.macroF1)} (${note(r)})`,
      );
    }
    rows.push(row);
  }

  const best =
    options.baselines === false ? undefined : [...rows].sort((a, b) => meanMacroF1(b) - meanMacroF1(a))[0];
  if (best) {
    const setting = grid.find((s) => settingName(s) === best.name) as Setting;
    const central: BenchRow = { name: `${best.name} centralised`, kind: "centralised", runs: [] };
    const local: BenchRow = { name: `${best.name} local-only`, kind: "local-only", runs: [] };
    const hospitals = await listSites(synthetic as Parameters<typeof listSites>[0]);
    for (const seed of options.seeds) {
      // All hospitals' images at one site: the same images, no federation.
      const pooled = { ...synthetic, partition: { kind: "iid", sites: 1 } };
      const c = await run(setting, seed, `${best.name}-centralised`, pooled);
      central.runs.push({
        seed,
        metrics: metricsOf(readSummary([c.dir])),
        seconds: c.seconds,
        reused: c.reused,
      });
      // Each hospital trains alone and is tested on its own test split; pooled like the federation.
      const dirs: string[] = [];
      let seconds = 0;
      let reused = true;
      for (const hospital of hospitals) {
        const l = await run(setting, seed, `${best.name}-local-${hospital}`, synthetic, [hospital]);
        dirs.push(l.dir);
        seconds += l.seconds;
        reused &&= l.reused;
      }
      local.runs.push({ seed, metrics: metricsOf(readSummary(dirs)), seconds, reused });
      options.say(
        `  baselines seed ${seed}: centralised ${fmt(central.runs.at(-1)?.metrics.macroF1)}, local-only ${fmt(local.runs.at(-1)?.metrics.macroF1)}`,
      );
    }
    rows.push(central, local);
  }

  // The bench's own time: what its runs took when they ran, reused ones included.
  const seconds = rows.reduce((total, row) => total + row.runs.reduce((s, r) => s + r.seconds, 0), 0);
  const summaries = rows.map(summariseRow);
  const findings = paperFindings(rows, best?.name);
  const results: PaperResults = {
    fingerprint,
    sizes,
    seeds: options.seeds,
    preset: options.preset,
    seconds,
    confidence: CONFIDENCE,
    rows,
    summaries,
    findings,
  };
  writeFileAtomic(join(dir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const table = `${renderTable(rows, sizes, seconds)}\n${renderFindings(findings)}`;
  writeFileAtomic(join(dir, "table.md"), table);
  writeFileAtomic(join(dir, "macro-f1.svg"), await renderChartSvg(macroF1Chart(summaries)));
  if (findings.length > 0)
    writeFileAtomic(join(dir, "findings.svg"), await renderChartSvg(findingsChart(findings)));
  options.say(table);
  options.say(`(${((Date.now() - started) / 60_000).toFixed(1)} min now)`);
  return { dir, results };
}

function selectSettings(names: readonly string[] | undefined): Setting[] {
  const grid = federatedGrid();
  if (names === undefined) return grid;
  const known = new Set(grid.map(settingName));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0 || names.length === 0)
    throw new FlError(
      ErrorCode.InvalidArgument,
      `unknown setting${unknown.length === 1 ? "" : "s"} ${unknown.join(", ") || "(none given)"}; the grid's settings are: ${[...known].join(", ")}`,
    );
  return grid.filter((s) => names.includes(settingName(s)));
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
    // The table compares the sites' own test splits; a reference set at the coordinator would
    // cost every one of the grid's runs a trainer process and an evaluation per round.
    centralEval: false,
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
  if (!summary) throw new FlError(ErrorCode.NotFound, `no evaluation in ${dirs.join(", ")}`);
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

function meanMacroF1(row: BenchRow): number {
  const m = estimate(row.runs.map((r) => r.metrics.macroF1)).mean;
  return Number.isNaN(m) ? -1 : m;
}

function fmt(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(3);
}
