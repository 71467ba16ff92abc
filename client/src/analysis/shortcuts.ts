import type { ShortcutSection, Skipped } from "../../../shared/src/analysis/types.js";
import { argmaxRows, classificationReport, confusionMatrix } from "../../../shared/src/metrics/index.js";
import type { SiteProfile } from "../../../shared/src/ml/data/synth/hospitals.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import { labelled, mapBatches } from "./batches.js";
import type { Explainer } from "./explainer.js";
import { siteProbe } from "./probe.js";
import type { SiteData } from "./site-data.js";

/** Seed of the probe's train/test split. */
export const PROBE_SEED = 11;

/** Confusion matrix (rows true, columns predicted) of the model on the labelled images of a set. */
export async function confusionOf(
  explainer: Explainer,
  set: ImageSet,
  numClasses: number,
): Promise<number[][]> {
  const indices = labelled(set);
  const logits = await mapBatches(set, indices, (x) => explainer.logits(x));
  const predicted = Array.from(argmaxRows(logits, numClasses));
  return confusionMatrix(
    indices.map((i) => set.labels[i] as number),
    predicted,
    numClasses,
  );
}

/**
 * Marker and border shortcuts, and the site probe. Site k's images get site k+1's marker and
 * border (wrapping round): a fixed pairing, so runs compare. `asIs` holds each site's test
 * confusion already computed for the other sections.
 */
export async function shortcutTests(
  explainer: Explainer,
  sites: readonly SiteData[],
  asIs: ReadonlyMap<string, number[][]>,
  numClasses: number,
): Promise<ShortcutSection | Skipped> {
  if (sites.length < 2)
    return { skipped: "one site: there is no other site's marker to swap in and no site to predict" };
  if (sites.some((site) => site.profile === undefined)) {
    return {
      skipped:
        "the images are real files: markers and borders can only be removed or swapped on synthetic hospitals",
    };
  }
  const markers: ShortcutSection["markers"][number][] = [];
  const row = (
    site: SiteData,
    condition: "as-is" | "removed" | "swapped",
    confusion: number[][],
    from?: string,
  ) => {
    const report = classificationReport(confusion);
    markers.push({
      site: site.siteId,
      condition,
      ...(from !== undefined ? { from } : {}),
      images: report.count,
      accuracy: report.accuracy,
      macroF1: report.macroF1,
    });
  };
  for (const [k, site] of sites.entries()) {
    const donor = sites[(k + 1) % sites.length] as SiteData;
    const donorProfile = donor.profile as SiteProfile;
    row(site, "as-is", asIs.get(site.siteId) as number[][]);
    row(site, "removed", await confusionOf(explainer, await site.rerender({ marker: "none" }), numClasses));
    const swapped = await site.rerender({ marker: donorProfile, border: donorProfile });
    row(site, "swapped", await confusionOf(explainer, swapped, numClasses), donor.siteId);
  }
  // The probe sees each site's val and test images (never its training images).
  const chunks: Float32Array[] = [];
  const labels: number[] = [];
  let dimension = 0;
  for (const [k, site] of sites.entries()) {
    for (const set of [site.val, site.test]) {
      const indices = Array.from({ length: set.count }, (_, i) => i);
      const features = await mapBatches(set, indices, (x) => explainer.features(x));
      if (set.count > 0) dimension = features.length / set.count;
      chunks.push(features);
      for (let i = 0; i < set.count; i++) labels.push(k);
    }
  }
  const all = new Float32Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  const siteProbeResult = await siteProbe(all, dimension, Int32Array.from(labels), { seed: PROBE_SEED });
  return { markers, siteProbe: siteProbeResult };
}
