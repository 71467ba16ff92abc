import * as tf from "@tensorflow/tfjs-core";
import type { SaliencySection } from "../../../shared/src/analysis/types.js";
import { argmaxRows } from "../../../shared/src/metrics/index.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { imagesTensor, labelled, mapBatches } from "./batches.js";
import { overlayRgba } from "./colormap.js";
import type { Explainer } from "./explainer.js";
import { meanPointing, type PointingScore, pointingScore } from "./pointing.js";
import { cascadingRandomisation } from "./sanity.js";

/** Images per site in the sanity check: the cascade recomputes every map once per layer. */
export const SANITY_IMAGES_PER_SITE = 8;

/** One overlay to write: the PNG's RGBA pixels and where it goes in the analysis folder. */
export interface Overlay {
  readonly path: string;
  readonly side: number;
  readonly rgba: Uint8Array;
}

export interface SaliencyResult {
  readonly section: SaliencySection;
  readonly overlays: Overlay[];
  /** Why pointing is absent, when it is (no masks in the images). */
  readonly pointingSkipped?: string;
}

/** Gallery overlays are drawn at least this many pixels wide (small images are scaled up). */
const OVERLAY_MIN_SIDE = 256;

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * Grad-CAM per site: the map of each image's true class (for the pointing game against its
 * opacity mask), one gallery overlay per class (a correctly classified image of that class
 * when there is one, else a misclassified one), and the cascading-randomisation check on the
 * first labelled images of every site, explaining the trained model's predicted class.
 */
export async function saliency(
  explainer: Explainer,
  trained: ModelWeights,
  sites: ReadonlyArray<{ siteId: string; test: ImageSet }>,
  options: { maxImagesPerSite: number; classKeys: readonly string[] },
): Promise<SaliencyResult> {
  const { classKeys } = options;
  const numClasses = classKeys.length;
  const size = explainer.imageSize;
  const pixels = size * size;
  const scale = Math.max(1, Math.ceil(OVERLAY_MIN_SIDE / size));
  const gallery: SaliencySection["gallery"][number][] = [];
  const overlays: Overlay[] = [];
  const pointing: PointingScore[][] = classKeys.map(() => []);
  let masked = 0;
  const sanityImages: { set: ImageSet; index: number }[] = [];
  for (const { siteId, test } of sites) {
    const indices = labelled(test).slice(0, options.maxImagesPerSite);
    if (indices.length === 0) continue;
    const truth = indices.map((i) => test.labels[i] as number);
    const predicted = Array.from(
      argmaxRows(await mapBatches(test, indices, (x) => explainer.logits(x)), numClasses),
    );
    const maps = await classMaps(explainer, test, indices, truth);
    indices.forEach((index, row) => {
      const mask = test.masks.subarray(index * pixels, (index + 1) * pixels);
      const score = pointingScore(maps.subarray(row * pixels, (row + 1) * pixels), mask);
      if (mask.some((v) => v > 0)) masked++;
      if (score) pointing[truth[row] as number]?.push(score);
    });
    for (let c = 0; c < numClasses; c++) {
      const rows = indices.map((_, row) => row).filter((row) => truth[row] === c);
      const row = rows.find((r) => predicted[r] === c) ?? rows[0];
      if (row === undefined) continue;
      const index = indices[row] as number;
      const image = test.images.subarray(index * pixels, (index + 1) * pixels);
      const base = `saliency/${fileSafe(siteId)}-${classKeys[c]}`;
      overlays.push({
        path: `${base}.png`,
        side: size * scale,
        rgba: overlayRgba(image, maps.subarray(row * pixels, (row + 1) * pixels), size, scale),
      });
      let decoderPng: string | undefined;
      if (explainer.decoderCam) {
        const x = imagesTensor(test, [index]);
        const cam = explainer.decoderCam(x);
        const decoderMap = (await cam.data()) as Float32Array;
        tf.dispose([x, cam]);
        decoderPng = `${base}-decoder.png`;
        overlays.push({
          path: decoderPng,
          side: size * scale,
          rgba: overlayRgba(image, decoderMap, size, scale),
        });
      }
      gallery.push({
        site: siteId,
        classKey: classKeys[c] as string,
        trueClassKey: classKeys[c] as string,
        predictedClassKey: classKeys[predicted[row] as number] as string,
        png: `${base}.png`,
        ...(decoderPng ? { decoderPng } : {}),
      });
    }
    for (const index of indices.slice(0, SANITY_IMAGES_PER_SITE)) sanityImages.push({ set: test, index });
  }
  const sanity = await sanityCheck(explainer, trained, sanityImages, numClasses);
  const section: SaliencySection = {
    method: "grad-cam",
    layer: explainer.camLayer,
    gallery,
    sanity: sanity.steps,
    sanityPassed: sanity.passed,
    ...(masked > 0
      ? {
          pointing: classKeys
            .map((classKey, c) => ({ classKey, ...meanPointing(pointing[c] ?? []) }))
            .filter((row) => row.images > 0),
        }
      : {}),
  };
  return {
    section,
    overlays,
    ...(masked === 0
      ? { pointingSkipped: "no image has an opacity mask: the pointing game needs masks" }
      : {}),
  };
}

/** Grad-CAM maps of the given classes, [n * size * size], in batches. */
async function classMaps(
  explainer: Explainer,
  set: ImageSet,
  indices: readonly number[],
  classes: readonly number[],
): Promise<Float32Array> {
  let row = 0;
  return mapBatches(set, indices, (x) => {
    const batchClasses = classes.slice(row, row + x.shape[0]);
    row += x.shape[0];
    return explainer.classCam(x, batchClasses);
  });
}

async function sanityCheck(
  explainer: Explainer,
  trained: ModelWeights,
  images: ReadonlyArray<{ set: ImageSet; index: number }>,
  numClasses: number,
): Promise<{ steps: SaliencySection["sanity"][number][]; passed: boolean }> {
  if (images.length === 0) return { steps: [], passed: false };
  const size = explainer.imageSize;
  const pixels = size * size;
  const batch = new Float32Array(images.length * pixels);
  images.forEach(({ set, index }, row) => {
    batch.set(set.images.subarray(index * pixels, (index + 1) * pixels), row * pixels);
  });
  const x = tf.tensor4d(batch, [images.length, size, size, 1]);
  try {
    const logits = explainer.logits(x);
    const predicted = Array.from(argmaxRows((await logits.data()) as Float32Array, numClasses));
    logits.dispose();
    return await cascadingRandomisation(explainer, trained, x, predicted);
  } finally {
    x.dispose();
  }
}
