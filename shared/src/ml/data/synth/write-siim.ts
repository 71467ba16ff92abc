import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { CatalogItem, SyntheticSource } from "../catalog.js";
import { writeDicom } from "../dicom/write.js";
import { encodeGreyPng } from "../image/png.js";
import type { Box } from "../types.js";
import { CLASS_KEYS, CLASS_NAMES } from "../types.js";
import { generateImage } from "./generator.js";
import { sitePreset } from "./hospitals.js";
import { hexId, planSyntheticSite } from "./plan.js";

export interface WriteSyntheticOptions {
  /** Output folder (created). */
  readonly out: string;
  readonly preset: string;
  readonly imagesPerSite: number;
  readonly seed: number;
  /** Write DICOM files in the SIIM layout (default true). */
  readonly dicom?: boolean;
  /** Also write PNGs with a folder-layout labels CSV under png/. */
  readonly png?: boolean;
  /** Overrides every site's stored image size (smaller is faster). */
  readonly nativeSize?: number;
  readonly log?: (line: string) => void;
}

/** Where things were written. */
export interface WrittenDataset {
  readonly root: string;
  readonly images: number;
  readonly sites: readonly string[];
  readonly studyCsv: string;
  readonly imageCsv: string;
  /** A DataConfig (JSON) that loads the DICOM set with its sites. */
  readonly siimConfig: string;
  /** A DataConfig (JSON) for the PNG folder, when PNGs were written. */
  readonly folderConfig?: string;
  readonly imagesPerMinute: number;
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvLine(values: readonly string[]): string {
  return `${values.map(csvField).join(",")}\n`;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * SIIM's Python-literal box list, e.g. `[{'x': 1.0, 'y': 2.0, 'width': 3.0, 'height': 4.0}]`.
 * @internal Exported for the CSV round-trip test (written here, parsed by loaders/labels.ts).
 */
export function siimBoxesCell(boxes: readonly Box[]): string {
  if (boxes.length === 0) return "";
  const f = (n: number): string => (Number.isInteger(n) ? n.toFixed(1) : String(round(n)));
  return `[${boxes.map((b) => `{'x': ${f(b.x)}, 'y': ${f(b.y)}, 'width': ${f(b.width)}, 'height': ${f(b.height)}}`).join(", ")}]`;
}

/**
 * SIIM's image-level label string.
 * @internal Exported for the CSV round-trip test (written here, parsed by loaders/labels.ts).
 */
export function siimLabelCell(boxes: readonly Box[]): string {
  if (boxes.length === 0) return "none 1 0 0 1 1";
  return boxes
    .map((b) => `opacity 1 ${round(b.x)} ${round(b.y)} ${round(b.x + b.width)} ${round(b.y + b.height)}`)
    .join(" ");
}

/** Display values in [0, 1] to the site's stored DICOM values. */
function toStored(image: Float32Array, bitsStored: number, monochrome1: boolean): Uint16Array {
  const max = 2 ** bitsStored - 1;
  const out = new Uint16Array(image.length);
  for (let i = 0; i < image.length; i++) {
    const v = image[i] as number;
    out[i] = Math.round((monochrome1 ? 1 - v : v) * max);
  }
  return out;
}

/**
 * Writes a synthetic federation in the SIIM-FISABIO-RSNA layout: train_study_level.csv (with an
 * extra `site` column), train_image_level.csv with boxes, train/<study>/<series>/<image>.dcm in
 * each site's DICOM style (bit depth, MONOCHROME1, implicit VR, rescale, window), and optionally
 * PNGs with a folder-layout labels.csv. Deterministic in its options.
 */
export async function writeSyntheticDataset(options: WriteSyntheticOptions): Promise<WrittenDataset> {
  const root = resolve(options.out);
  const writeDicomFiles = options.dicom ?? true;
  await mkdir(root, { recursive: true });
  const profiles = sitePreset(options.preset);
  const items: CatalogItem[] = profiles.flatMap((p) =>
    planSyntheticSite(p, options.imagesPerSite, options.seed),
  );
  const studyRows = new Map<string, { label: number; site: string }>();
  let imageCsv = csvLine(["id", "boxes", "label", "StudyInstanceUID"]);
  let pngCsv = csvLine(["image", "label", "study", "patient", "site", "boxes"]);
  const started = performance.now();
  let renderMs = 0;
  let done = 0;
  for (const item of items) {
    const source = item.source as SyntheticSource;
    const style = source.profile.dicom;
    const size = options.nativeSize ?? style.size;
    const t0 = performance.now();
    const rendered = generateImage({
      size,
      label: source.trueLabel,
      patientSeed: source.patientSeed,
      studySeed: source.studySeed,
      imageSeed: source.imageSeed,
      profile: source.profile,
    });
    renderMs += performance.now() - t0;
    studyRows.set(item.studyId, { label: item.label, site: item.site });
    imageCsv += csvLine([
      `${item.imageId}_image`,
      siimBoxesCell(rendered.boxes),
      siimLabelCell(rendered.boxes),
      item.studyId,
    ]);
    if (writeDicomFiles) {
      const seriesId = hexId(options.seed, item.site, "series", item.studyId);
      const dir = join(root, "train", item.studyId, seriesId);
      await mkdir(dir, { recursive: true });
      const monochrome1 = style.photometric === "MONOCHROME1";
      const stored = toStored(rendered.image, style.bitsStored, monochrome1);
      const max = 2 ** style.bitsStored - 1;
      const bytes = writeDicom({
        rows: size,
        columns: size,
        bitsAllocated: style.bitsStored > 8 ? 16 : 8,
        bitsStored: style.bitsStored,
        photometric: style.photometric,
        pixels: style.bitsStored > 8 ? stored : Uint8Array.from(stored),
        vr: style.vr,
        rescaleSlope: style.rescaleSlope,
        rescaleIntercept: style.rescaleIntercept,
        ...(style.window
          ? {
              window: {
                center: style.rescaleIntercept + (style.rescaleSlope * max) / 2,
                width: style.rescaleSlope * max,
              },
            }
          : {}),
        sopInstanceUid: item.imageId,
        studyInstanceUid: item.studyId,
        seriesInstanceUid: seriesId,
        patientId: item.patientId,
        modality: style.modality,
        institutionName: item.site,
        manufacturer: style.manufacturer,
        viewPosition: rendered.portable ? "AP" : "PA",
      });
      await writeFile(join(dir, `${item.imageId}.dcm`), bytes);
    }
    if (options.png) {
      const rel = `png/${item.site}/${item.imageId}.png`;
      await mkdir(join(root, "png", item.site), { recursive: true });
      await writeFile(join(root, rel), encodeGreyPng(rendered.image, size, size));
      pngCsv += csvLine([
        `${item.site}/${item.imageId}.png`,
        CLASS_KEYS[item.label] as string,
        item.studyId,
        item.patientId,
        item.site,
        rendered.boxes.length > 0 ? JSON.stringify(rendered.boxes) : "",
      ]);
    }
    done++;
    if (done % 100 === 0 || done === items.length) options.log?.(`synth: ${done}/${items.length} images`);
  }
  let studyCsv = csvLine(["id", ...CLASS_NAMES, "site"]);
  for (const [studyId, row] of studyRows) {
    studyCsv += csvLine([
      `${studyId}_study`,
      ...CLASS_NAMES.map((_, k) => (k === row.label ? "1" : "0")),
      row.site,
    ]);
  }
  const studyPath = join(root, "train_study_level.csv");
  const imagePath = join(root, "train_image_level.csv");
  await writeFile(studyPath, studyCsv);
  await writeFile(imagePath, imageCsv);
  const siimConfig = join(root, "siim-config.json");
  await writeFile(
    siimConfig,
    `${JSON.stringify({ kind: "siim", root, siteColumn: "site", imageSize: 128, seed: options.seed }, null, 2)}\n`,
  );
  let folderConfig: string | undefined;
  if (options.png) {
    await writeFile(join(root, "png", "labels.csv"), pngCsv);
    folderConfig = join(root, "folder-config.json");
    const config = {
      kind: "folder",
      root: join(root, "png"),
      labels: "labels.csv",
      studyColumn: "study",
      patientColumn: "patient",
      siteColumn: "site",
      imageSize: 128,
      seed: options.seed,
    };
    await writeFile(folderConfig, `${JSON.stringify(config, null, 2)}\n`);
  }
  const elapsed = performance.now() - started;
  options.log?.(
    `synth: wrote ${items.length} images in ${(elapsed / 1000).toFixed(1)} s (rendering ${(renderMs / 1000).toFixed(1)} s)`,
  );
  return {
    root,
    images: items.length,
    sites: profiles.map((p) => p.id),
    studyCsv: studyPath,
    imageCsv: imagePath,
    siimConfig,
    ...(folderConfig ? { folderConfig } : {}),
    imagesPerMinute: renderMs > 0 ? (items.length / renderMs) * 60000 : 0,
  };
}
