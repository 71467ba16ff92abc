/**
 * `fl analyse RUN`: saliency maps with their sanity check, shortcut and site tests of a run's
 * final model, written to RUN/analysis/ (analysis.json and the overlay PNGs).
 */
import { join } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { analyseRun, analysisDir } from "../../client/src/analysis/index.js";
import type { AnalysisReport } from "../../shared/src/analysis/types.js";
import { parseBackendPreference } from "../../shared/src/ml/tf/backend.js";

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a whole number >= 1, got "${value}"`);
  return n;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** A few lines that say what the analysis found. */
export function summariseAnalysis(report: AnalysisReport): string[] {
  const lines = [
    `model v${report.model.version} (${report.model.architecture}, sha256 ${report.model.sha256.slice(0, 12)})`,
  ];
  const s = report.saliency;
  if (s && "skipped" in s) lines.push(`saliency: skipped (${s.skipped})`);
  else if (s) {
    const last = s.sanity[s.sanity.length - 1];
    lines.push(
      `saliency: Grad-CAM at ${s.layer}, ${s.gallery.length} overlays; sanity check ${s.sanityPassed ? "passed" : "FAILED"}` +
        (last
          ? ` (mean Spearman rho ${last.meanSpearman.toFixed(2)} with all ${s.sanity.length} layers re-initialised)`
          : ""),
    );
    for (const p of s.pointing ?? [])
      lines.push(
        `  ${p.classKey}: ${pct(p.massInside)} of saliency inside the opacity masks (chance ${pct(p.chance)}), pointing hits ${pct(p.hitRate)} of ${p.images}`,
      );
  }
  const sc = report.shortcuts;
  if (sc && "skipped" in sc) lines.push(`shortcuts: skipped (${sc.skipped})`);
  else if (sc) {
    for (const row of sc.markers.filter((m) => m.condition !== "as-is")) {
      const base = sc.markers.find((m) => m.site === row.site && m.condition === "as-is");
      const delta = base ? row.macroF1 - base.macroF1 : 0;
      lines.push(
        `shortcuts: ${row.site} markers ${row.condition}${row.from ? ` (from ${row.from})` : ""}: macro-F1 ${row.macroF1.toFixed(3)} (${delta >= 0 ? "+" : ""}${delta.toFixed(3)} vs as-is)`,
      );
    }
    const p = sc.siteProbe;
    lines.push(
      `site probe: ${pct(p.accuracy)} held-out accuracy predicting the site from ${p.features} features (chance ${pct(p.chance)}, ${p.testImages} images)`,
    );
  }
  const d = report.disparities;
  if (d && "skipped" in d) lines.push(`disparities: skipped (${d.skipped})`);
  else if (d) {
    lines.push(
      `disparities: macro-F1 best ${d.best.site} ${d.best.value.toFixed(3)}, worst ${d.worst.site} ${d.worst.value.toFixed(3)}; hardest classes ${d.hardestClasses.join(", ")}`,
    );
  }
  return lines;
}

export function registerAnalyseCommand(program: Command): void {
  program
    .command("analyse")
    .description(
      "saliency (Grad-CAM with a randomisation sanity check, pointing game), marker shortcuts, a site probe and per-site disparities of a run's final model; writes RUN/analysis/",
    )
    .argument("<run>", "a run folder of fl simulate (holds coordinator.yaml, clients/ and model/final.flw)")
    .option("--max-images <n>", "test images per site that get saliency maps", positiveInteger, 64)
    .option("--backend <name>", "TensorFlow.js backend: auto, tensorflow-gpu, tensorflow, wasm, cpu", "auto")
    .action(async (run: string, options: { maxImages: number; backend: string }) => {
      const started = Date.now();
      const report = await analyseRun(run, {
        maxImagesPerSite: options.maxImages,
        backend: parseBackendPreference(options.backend),
        say: (line) => process.stderr.write(`${line}\n`),
      });
      for (const line of summariseAnalysis(report)) process.stdout.write(`${line}\n`);
      process.stdout.write(
        `wrote ${join(analysisDir(run), "analysis.json")} and its PNGs in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
    });
}
