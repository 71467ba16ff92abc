import { copyFileSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { renderMarkdownReport, summariseRounds, summariseVersion } from "./report.js";
import { COMPLETED_EARLY_META } from "./store/records.js";
import type { StateStore } from "./store/state-store.js";

/** Runs one file operation; a failure (a full disk, a permission) names the file it was for. */
function writing(path: string, write: () => void): void {
  try {
    write();
  } catch (error) {
    throw new FlError(ErrorCode.Internal, `cannot write report file ${path}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/**
 * Writes the run's reports next to the state: rounds.json (per-round metrics), evaluation.json
 * (final evaluation per site and pooled), report.md, and, once the plan has completed,
 * model/final.flw. Rewritten after every round, so a stopped run still has its reports up to the
 * last committed round, saying that it stopped early, and no final model. They are derived
 * from the database only, so a failed write loses nothing: the next call writes them whole.
 * Throws an `FlError` naming the file that could not be written.
 */
export function writeReports(store: StateStore, outDir: string, federationId: string): void {
  // One row at a time: every version's parsed statistics at once is GiBs at 500 sites.
  const evaluations = store
    .evaluatedVersions()
    .map((version) => summariseVersion(version, () => store.iterateEvaluations(version)));
  const rounds = summariseRounds(store.listRounds(), evaluations);
  const latest = store.latestCheckpoint();
  const final = latest ? evaluations.find((e) => e.modelVersion === latest.version) : undefined;
  const file = (name: string, content: string) => {
    const path = join(outDir, name);
    writing(path, () => writeFileAtomic(path, content));
  };
  writing(outDir, () => mkdirSync(outDir, { recursive: true }));
  file("rounds.json", `${JSON.stringify(rounds, null, 2)}\n`);
  file("evaluations.json", `${JSON.stringify(evaluations, null, 2)}\n`);
  if (final) file("evaluation.json", `${JSON.stringify(final, null, 2)}\n`);
  const completedAt = store.completedAt();
  file(
    "report.md",
    renderMarkdownReport({
      federationId,
      rounds,
      final,
      sites: store.listSites(),
      completedAt,
      completedEarlyReason: store.getMeta(COMPLETED_EARLY_META),
    }),
  );
  const modelDir = join(outDir, "model");
  if (completedAt === undefined) {
    // Only a completed plan has a final model; the last committed one stays in checkpoints/.
    for (const name of ["final.flw", "final.json"])
      writing(join(modelDir, name), () => rmSync(join(modelDir, name), { force: true }));
  } else if (latest) {
    const finalPath = join(modelDir, "final.flw");
    const tmp = join(modelDir, ".final.flw.tmp");
    writing(finalPath, () => {
      mkdirSync(modelDir, { recursive: true });
      try {
        copyFileSync(latest.path, tmp);
      } catch (error) {
        // A partial copy on a full disk would hold on to the space the next attempt needs.
        rmSync(tmp, { force: true });
        throw error;
      }
    });
    file(
      join("model", "final.json"),
      `${JSON.stringify({ version: latest.version, round: latest.round, sha256: latest.sha256, bytes: latest.bytes }, null, 2)}\n`,
    );
    writing(finalPath, () => renameSync(tmp, finalPath));
  }
}
