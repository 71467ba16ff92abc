import { normalize, resolve } from "node:path";
import { ErrorCode, FlError } from "../../../errors.js";
import type { BadItemLog } from "../bad-items.js";
import type { CatalogItem } from "../catalog.js";
import type { FolderDataConfig } from "../config-schema.js";
import type { Box } from "../types.js";
import { parseCsv } from "./csv.js";
import { listImageFiles, readTextFile } from "./files.js";
import { parseBoxesCell, parseClassName } from "./labels.js";
import { DatasetPaths } from "./paths.js";
import { DEFAULT_SITE } from "./siim.js";

/**
 * Reads a plain folder of PNG/JPEG/DICOM images with a labels CSV: one row per image with its
 * path (relative to root) and class (name, key or index), optionally study, patient, site,
 * boxes (JSON or SIIM literal, in the image's pixels) and a mask image path.
 * Images under root that no row names are reported (or kept unlabelled with includeUnlabelled).
 * Every path is confined to root (and `allowedRoots`), symbolic links resolved.
 */
export async function buildFolderCatalog(
  config: FolderDataConfig,
  badItems: BadItemLog,
): Promise<CatalogItem[]> {
  const root = resolve(config.root);
  const paths = await DatasetPaths.create(root, config.allowedRoots);
  const labelsPath = resolve(root, config.labels);
  const table = parseCsv(await readTextFile(labelsPath, "labels CSV"));
  const needed = [
    config.imageColumn,
    config.labelColumn,
    config.studyColumn,
    config.patientColumn,
    config.siteColumn,
    config.maskColumn,
  ];
  const missing = needed.filter((c): c is string => c !== undefined && !table.header.includes(c));
  if (missing.length > 0) {
    throw new FlError(
      ErrorCode.DataError,
      `${labelsPath}: missing column(s) ${missing.map((m) => `"${m}"`).join(", ")} (has ${table.header.join(", ")})`,
    );
  }
  const hasBoxes = table.header.includes(config.boxesColumn);
  const onDisk = new Set(await listImageFiles(root, paths, badItems));
  const maskFiles = new Set<string>();
  const seen = new Set<string>();
  const items: CatalogItem[] = [];
  for (const row of table.rows) {
    const origin = `${labelsPath}:${row.line}`;
    if (row.fieldCount !== table.header.length) {
      badItems.report("malformed-row", origin, `${row.fieldCount} fields, header has ${table.header.length}`);
      continue;
    }
    const cell = (column: string | undefined): string => (column ? (row.values[column] ?? "").trim() : "");
    const rawImage = cell(config.imageColumn);
    if (rawImage === "") {
      badItems.report("malformed-row", origin, `empty "${config.imageColumn}"`);
      continue;
    }
    const rel = normalize(rawImage).split("\\").join("/");
    const image = await paths.locate(rel);
    if (image.kind === "outside") {
      badItems.report("path-outside-root", origin, `image ${image.reason}`);
      continue;
    }
    const path = image.path;
    if (seen.has(path)) {
      badItems.report("duplicate-id", origin, `image ${rawImage} is listed twice`);
      continue;
    }
    seen.add(path);
    onDisk.delete(rel);
    if (image.kind === "missing") {
      badItems.report("label-without-image", origin, `image ${rawImage} does not exist under ${root}`);
      continue;
    }
    const rawLabel = cell(config.labelColumn);
    let label = -1;
    if (rawLabel === "") {
      if (!config.includeUnlabelled) {
        badItems.report(
          "image-without-label",
          origin,
          `image ${rawImage} has an empty "${config.labelColumn}"`,
        );
        continue;
      }
    } else {
      const parsed = parseClassName(rawLabel);
      if (parsed === undefined) {
        badItems.report(
          "unknown-class",
          origin,
          `class "${rawLabel}" is not one of negative, typical, indeterminate, atypical (or their full names, or 0-3)`,
        );
        continue;
      }
      label = parsed;
    }
    let boxes: Box[] = [];
    if (hasBoxes) {
      try {
        boxes = parseBoxesCell(cell(config.boxesColumn));
      } catch (error) {
        badItems.report("malformed-row", origin, (error as Error).message);
        continue;
      }
    }
    const maskRel = cell(config.maskColumn);
    let maskPath: string | undefined;
    if (maskRel !== "") {
      const mask = await paths.locate(maskRel);
      maskFiles.add(normalize(maskRel).split("\\").join("/"));
      if (mask.kind === "outside") {
        badItems.report("path-outside-root", origin, `mask ${mask.reason}`);
        continue;
      }
      if (mask.kind === "missing") {
        badItems.report("label-without-image", origin, `mask ${maskRel} does not exist under ${root}`);
        continue;
      }
      maskPath = mask.path;
    }
    const studyId = cell(config.studyColumn) || rel;
    const site = config.siteColumn ? cell(config.siteColumn) : DEFAULT_SITE;
    if (site === "") {
      badItems.report("malformed-row", origin, `empty site in column "${config.siteColumn}"`);
      continue;
    }
    items.push({
      imageId: rel,
      studyId,
      patientId: cell(config.patientColumn) || studyId,
      label,
      site,
      source: { kind: "file", path, boxes, origin, ...(maskPath ? { maskPath } : {}) },
    });
  }
  for (const rel of onDisk) {
    if (maskFiles.has(rel)) continue;
    const located = await paths.locate(rel);
    // The walk listed it inside the allowed folders (it may have changed since); a file that a
    // row or another link already named is the same image, and is not added twice.
    if (located.kind !== "inside" || seen.has(located.path)) continue;
    const path = located.path;
    seen.add(path);
    if (!config.includeUnlabelled) {
      badItems.report("image-without-label", path, `no row in ${labelsPath} names it`);
      continue;
    }
    items.push({
      imageId: rel,
      studyId: rel,
      patientId: rel,
      label: -1,
      site: DEFAULT_SITE,
      source: { kind: "file", path, boxes: [], origin: path },
    });
  }
  return items;
}
