import { copyFileSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { renderMarkdownReport, summariseEvaluations, summariseRounds } from "./report.js";
import type { StateStore } from "./store/state-store.js";

/**
 * Writes the run's reports next to the state: rounds.json (per-round metrics), evaluation.json
 * (final evaluation per site and pooled), report.md, and model/final.flw. Rewritten after every
 * round, so a stopped run still has its reports up to the last committed round.
 */
export function writeReports(store: StateStore, outDir: string, federationId: string): void {
  const evaluations = summariseEvaluations(store.listEvaluations());
  const rounds = summariseRounds(store.listRounds(), evaluations);
  const latest = store.latestCheckpoint();
  const final = latest ? evaluations.find((e) => e.modelVersion === latest.version) : undefined;
  mkdirSync(outDir, { recursive: true });
  writeFileAtomic(join(outDir, "rounds.json"), `${JSON.stringify(rounds, null, 2)}\n`);
  writeFileAtomic(join(outDir, "evaluations.json"), `${JSON.stringify(evaluations, null, 2)}\n`);
  if (final) writeFileAtomic(join(outDir, "evaluation.json"), `${JSON.stringify(final, null, 2)}\n`);
  writeFileAtomic(
    join(outDir, "report.md"),
    renderMarkdownReport({ federationId, rounds, final, sites: store.listSites() }),
  );
  if (latest) {
    mkdirSync(join(outDir, "model"), { recursive: true });
    copyFileSync(latest.path, join(outDir, "model", ".final.flw.tmp"));
    writeFileAtomic(
      join(outDir, "model", "final.json"),
      `${JSON.stringify({ version: latest.version, round: latest.round, sha256: latest.sha256, bytes: latest.bytes }, null, 2)}\n`,
    );
    renameSync(join(outDir, "model", ".final.flw.tmp"), join(outDir, "model", "final.flw"));
  }
}
