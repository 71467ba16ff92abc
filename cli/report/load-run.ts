/**
 * Reads a run folder for the report: the coordinator's state (through a snapshot, so the run's
 * own database is never written, not even by a schema upgrade or by marking rounds aborted),
 * run.json of `fl simulate`, and analysis/analysis.json with its PNGs when `fl analyse` ran.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import Database from "better-sqlite3";
import { CENTRAL_SITE_PREFIX, summariseRounds, summariseVersion } from "../../coordinator/src/report.js";
import {
  COMPLETED_EARLY_META,
  type EvaluationRecord,
  type UpdateRecord,
} from "../../coordinator/src/store/records.js";
import { StateStore } from "../../coordinator/src/store/state-store.js";
import type { AnalysisReport } from "../../shared/src/analysis/types.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import type { ReportEvaluation, RunInput, SiteTraffic } from "./types.js";

export const ANALYSIS_DIR = "analysis";

export async function loadRun(runDir: string): Promise<RunInput> {
  const dbPath = join(runDir, "state.db");
  if (!existsSync(dbPath))
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${runDir} is not a run folder: it has no state.db. Give the folder \`fl simulate\` wrote (runs/<time>, or its --out) or a coordinator's stateDir.`,
    );
  const snapshotDir = mkdtempSync(join(tmpdir(), "fl-report-"));
  try {
    const store = await openSnapshot(dbPath, join(snapshotDir, "state.db"));
    try {
      return { ...readStore(store, runDir), ...readFolder(runDir) };
    } finally {
      store.close();
    }
  } finally {
    rmSync(snapshotDir, { recursive: true, force: true });
  }
}

/**
 * A consistent copy opened as the coordinator would. Without a write-ahead log no coordinator
 * has it open, and a plain copy is whole; with one, SQLite's online backup copies a consistent
 * state while it still writes. (Opening the run's own file, even read-only, would leave -wal and
 * -shm files behind in the run folder.)
 */
async function openSnapshot(dbPath: string, copyPath: string): Promise<StateStore> {
  try {
    if (existsSync(`${dbPath}-wal`)) {
      const source = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        await source.backup(copyPath);
      } finally {
        source.close();
      }
    } else {
      copyFileSync(dbPath, copyPath);
    }
  } catch (error) {
    throw new FlError(
      ErrorCode.DataError,
      `cannot read ${dbPath} (${errorMessage(error)}): is it the state database of a coordinator?`,
      { cause: error },
    );
  }
  let federationId: string | undefined;
  try {
    const copy = new Database(copyPath, { readonly: true });
    try {
      federationId = copy
        .prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'federation_id'")
        .get()?.value;
    } finally {
      copy.close();
    }
  } catch (error) {
    throw new FlError(
      ErrorCode.DataError,
      `${dbPath} is not a coordinator's state database (${errorMessage(error)})`,
      { cause: error },
    );
  }
  if (federationId === undefined)
    throw new FlError(
      ErrorCode.DataError,
      `${dbPath} records no federation: it is empty or not a coordinator's state database`,
    );
  return StateStore.open(copyPath, { federationId });
}

function readStore(store: StateStore, runDir: string) {
  // One version and one row at a time: the sites' statistics of every version at once are GiBs at
  // 500 sites, and the report needs their summaries and a few facts per site only.
  const evaluationTally = new Map<string, EvaluationTally>();
  const evaluations = store.evaluatedVersions().map((version) => {
    let tallied = false;
    const summary = summariseVersion(version, function* () {
      for (const record of store.iterateEvaluations(version)) {
        // A second read (sites of mixed resolutions) must not count the rows again.
        if (!tallied) tallyEvaluation(evaluationTally, record);
        yield record;
      }
      tallied = true;
    });
    return summary as ReportEvaluation;
  });
  const roundRecords = store.listRounds();
  const rounds = summariseRounds(roundRecords, evaluations);
  const latest = store.latestCheckpoint();
  const final = latest ? evaluations.find((e) => e.modelVersion === latest.version) : undefined;
  const completedAttempt = new Set(
    roundRecords.filter((r) => r.status === "completed").map((r) => `${r.round}:${r.attempt}`),
  );
  const updates = store.listUpdates();
  const siteTraining = updates
    .filter((u) => u.status === "accepted" && completedAttempt.has(`${u.round}:${u.attempt}`))
    .flatMap((u) =>
      u.trainMetrics.loss === undefined
        ? []
        : [{ round: u.round, site: u.siteId, loss: u.trainMetrics.loss }],
    );
  const sites = store.listSites();
  // The coordinator's own evaluations ("@central") are no site's traffic.
  const siteIds = [
    ...new Set([...sites.map((s) => s.siteId), ...updates.map((u) => u.siteId), ...evaluationTally.keys()]),
  ]
    .filter((id) => !id.startsWith(CENTRAL_SITE_PREFIX))
    .sort();
  const updatesBySite = new Map<string, UpdateRecord[]>();
  for (const u of updates) updatesBySite.set(u.siteId, [...(updatesBySite.get(u.siteId) ?? []), u]);
  const traffic: SiteTraffic[] = siteIds.map((site) => {
    const mine = updatesBySite.get(site) ?? [];
    const accepted = mine.filter((u) => u.status === "accepted");
    const evals = evaluationTally.get(site);
    return {
      site,
      updatesAccepted: accepted.length,
      updatesRejected: mine.length - accepted.length,
      updateBytes: mine.reduce((n, u) => n + u.plaintextBytes, 0),
      trainExamplesDeclared: accepted.reduce((n, u) => n + u.numExamples, 0),
      trainMetricKeys: [...new Set(mine.flatMap((u) => Object.keys(u.trainMetrics)))].sort(),
      evaluations: evals?.count ?? 0,
      evaluationMetricKeys: [...(evals?.metricKeys ?? [])].sort(),
      histogramBins: evals?.histogramBins ?? 0,
      bootstrapReplicates: evals?.bootstrapReplicates ?? 0,
      temperatureScan: evals?.temperatureScan ?? false,
    };
  });
  const config = parseJson(store.getMeta("config"));
  return {
    runDir,
    federationId: store.getMeta("federation_id") ?? "?",
    completedAt: store.completedAt(),
    ...(store.getMeta(COMPLETED_EARLY_META) !== undefined && {
      completedEarlyReason: store.getMeta(COMPLETED_EARLY_META) as string,
    }),
    ...(config !== undefined && { config: config as NonNullable<RunInput["config"]> }),
    sites,
    rounds,
    evaluations,
    final,
    siteTraining,
    traffic,
  };
}

/** What a site's evaluation reports show of what it sent, over all versions. */
interface EvaluationTally {
  count: number;
  readonly metricKeys: Set<string>;
  histogramBins: number;
  bootstrapReplicates: number;
  temperatureScan: boolean;
}

function tallyEvaluation(tally: Map<string, EvaluationTally>, record: EvaluationRecord): void {
  let site = tally.get(record.siteId);
  if (site === undefined) {
    site = {
      count: 0,
      metricKeys: new Set(),
      histogramBins: 0,
      bootstrapReplicates: 0,
      temperatureScan: false,
    };
    tally.set(record.siteId, site);
  }
  site.count++;
  for (const key of Object.keys(record.metrics)) site.metricKeys.add(key);
  const stats = record.statistics;
  if (stats === undefined) return;
  site.histogramBins = Math.max(site.histogramBins, stats.bins);
  site.bootstrapReplicates = Math.max(site.bootstrapReplicates, stats.bootstrap?.replicates.length ?? 0);
  site.temperatureScan ||= stats.temperature !== undefined;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function readFolder(runDir: string): Pick<RunInput, "run" | "analysis" | "images"> {
  const runJson = parseJson(readIfExists(join(runDir, "run.json")));
  const analysisDir = join(runDir, ANALYSIS_DIR);
  const analysisPath = join(analysisDir, "analysis.json");
  let analysis: RunInput["analysis"];
  const images: Record<string, string> = {};
  if (existsSync(analysisPath)) {
    try {
      const parsed = JSON.parse(readFileSync(analysisPath, "utf8")) as AnalysisReport;
      if (parsed.version !== 1) throw new Error(`version ${String(parsed.version)}, expected 1`);
      analysis = parsed;
    } catch (error) {
      analysis = { error: `${analysisPath}: ${errorMessage(error)}` };
    }
    if (analysis && !("error" in analysis) && analysis.saliency && !("skipped" in analysis.saliency)) {
      for (const item of analysis.saliency.gallery)
        for (const png of [item.png, item.decoderPng])
          if (png !== undefined) {
            const uri = pngDataUri(analysisDir, png);
            if (uri) images[png] = uri;
          }
    }
  }
  return {
    ...(typeof runJson === "object" && runJson !== null && { run: runJson as NonNullable<RunInput["run"]> }),
    ...(analysis !== undefined && { analysis }),
    images,
  };
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

/** Only files inside the analysis folder: analysis.json names them, and it is not trusted to stay there. */
function pngDataUri(dir: string, path: string): string | undefined {
  const full = resolve(dir, path);
  const rel = relative(resolve(dir), full);
  if (rel.startsWith("..") || rel === "" || !existsSync(full) || !statSync(full).isFile()) return undefined;
  const bytes = readFileSync(full);
  // A PNG starts with its 8-byte signature; anything else would not render as one.
  if (bytes.subarray(0, 8).toString("hex") !== "89504e470d0a1a0a") return undefined;
  return `data:image/png;base64,${bytes.toString("base64")}`;
}
