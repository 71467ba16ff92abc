import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { AnalysisReport, DisparitySection, Skipped } from "../../../shared/src/analysis/types.js";
import { ErrorCode, FlError, isFlError } from "../../../shared/src/errors.js";
import { writeFileAtomic } from "../../../shared/src/io/atomic-file.js";
import { encodeRgbaPng } from "../../../shared/src/ml/data/image/png.js";
import { CLASS_KEYS } from "../../../shared/src/ml/data/types.js";
import { type BackendPreference, initBackend } from "../../../shared/src/ml/tf/backend.js";
import { disparities } from "./disparities.js";
import { buildExplainer, type Explainer } from "./explainer.js";
import { readRunInputs } from "./run-folder.js";
import { saliency } from "./saliency.js";
import { confusionOf, shortcutTests } from "./shortcuts.js";
import { loadSiteData } from "./site-data.js";

export type { AnalysisReport } from "../../../shared/src/analysis/types.js";

export interface AnalyseOptions {
  /** Progress and summary lines (default: none). */
  say?: (line: string) => void;
  /** Test images per site that get Grad-CAM maps (gallery and pointing game); default 64. */
  maxImagesPerSite?: number;
  /** TensorFlow.js backend (default auto); ignored when the process already chose one. */
  backend?: BackendPreference;
}

export const DEFAULT_MAX_IMAGES_PER_SITE = 64;

/** The analysis folder of a run: analysis.json and the saliency PNGs. */
export function analysisDir(runDir: string): string {
  return join(runDir, "analysis");
}

/**
 * `fl analyse`: saliency with its sanity check, shortcut and site tests, and per-site
 * disparities of a run's final model (or last checkpoint) on each hospital's test split.
 * Writes <run>/analysis/analysis.json (atomically, after every PNG it names) and returns it.
 * Disparities come from this evaluation of the test splits, which is the run's own final
 * evaluation recomputed (same split, same model, same backend choice).
 */
export async function analyseRun(runDir: string, options: AnalyseOptions = {}): Promise<AnalysisReport> {
  const say = options.say ?? (() => {});
  const maxImagesPerSite = options.maxImagesPerSite ?? DEFAULT_MAX_IMAGES_PER_SITE;
  if (!Number.isInteger(maxImagesPerSite) || maxImagesPerSite < 1) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `max images per site must be a whole number >= 1 (got ${maxImagesPerSite})`,
    );
  }
  const inputs = readRunInputs(runDir);
  await initBackend({ prefer: options.backend ?? "auto", log: say });
  const base = { version: 1 as const, createdAt: new Date().toISOString(), model: inputs.model };
  const outDir = analysisDir(runDir);
  let explainer: Explainer;
  try {
    explainer = buildExplainer(inputs.spec, inputs.weights);
  } catch (error) {
    if (!isFlError(error, ErrorCode.WeightsShapeMismatch)) throw error;
    const skipped: Skipped = { skipped: error.message };
    const report: AnalysisReport = { ...base, saliency: skipped, shortcuts: skipped, disparities: skipped };
    writeReport(outDir, report, []);
    return report;
  }
  try {
    const sites = await loadSiteData(inputs.sites);
    for (const site of sites) {
      if (site.test.size !== explainer.imageSize) {
        throw new FlError(
          ErrorCode.InvalidConfig,
          `site ${site.siteId}'s data config makes ${site.test.size} px images, the model takes ${explainer.imageSize} px: ` +
            `the run's clients/${site.siteId}.yaml and coordinator.yaml disagree`,
        );
      }
    }
    const classKeys = CLASS_KEYS.slice(0, inputs.spec.numClasses) as string[];
    const numClasses = inputs.spec.numClasses;
    const asIs = new Map<string, number[][]>();
    for (const site of sites) asIs.set(site.siteId, await confusionOf(explainer, site.test, numClasses));
    const saliencyResult = await saliency(explainer, inputs.weights, sites, { maxImagesPerSite, classKeys });
    if (saliencyResult.pointingSkipped)
      say(`analyse: pointing game skipped: ${saliencyResult.pointingSkipped}`);
    const shortcuts = await shortcutTests(explainer, sites, asIs, numClasses);
    const disparity: DisparitySection | Skipped =
      sites.length < 2
        ? { skipped: "one site: no disparity between sites to report" }
        : disparities(asIs, classKeys);
    const report: AnalysisReport = {
      ...base,
      saliency: saliencyResult.section,
      shortcuts,
      disparities: disparity,
    };
    writeReport(outDir, report, saliencyResult.overlays);
    return report;
  } finally {
    explainer.dispose();
  }
}

/** PNGs first, then analysis.json, then PNGs of an earlier analysis that nothing names any more. */
function writeReport(
  outDir: string,
  report: AnalysisReport,
  overlays: ReadonlyArray<{ path: string; side: number; rgba: Uint8Array }>,
): void {
  mkdirSync(outDir, { recursive: true });
  for (const overlay of overlays) {
    const path = join(outDir, overlay.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, encodeRgbaPng(overlay.rgba, overlay.side, overlay.side));
  }
  writeFileAtomic(join(outDir, "analysis.json"), `${JSON.stringify(report, null, 2)}\n`);
  const kept = new Set(overlays.map((o) => o.path));
  const saliencyDir = join(outDir, "saliency");
  try {
    for (const name of readdirSync(saliencyDir)) {
      if (name.endsWith(".png") && !kept.has(`saliency/${name}`))
        rmSync(join(saliencyDir, name), { force: true });
    }
  } catch {
    // No saliency folder: nothing stale to remove.
  }
}
