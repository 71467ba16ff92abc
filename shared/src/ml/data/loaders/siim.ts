import { basename, resolve } from "node:path";
import { ErrorCode, FlError, isFlError } from "../../../errors.js";
import type { BadItemLog } from "../bad-items.js";
import type { CatalogItem } from "../catalog.js";
import type { SiimDataConfig } from "../config-schema.js";
import type { Box } from "../types.js";
import { CLASS_NAMES } from "../types.js";
import { parseCsv } from "./csv.js";
import { listImageFiles, readDicomHeaderFromFile, readTextFile } from "./files.js";
import { parseBoxesCell, parseSiimLabelBoxes } from "./labels.js";
import { DatasetPaths } from "./paths.js";

/** The site of items when a real dataset names none. */
export const DEFAULT_SITE = "all";

interface StudyRow {
  readonly label: number;
  readonly site: string;
  readonly patientId?: string;
  readonly origin: string;
}

/**
 * Reads the SIIM-FISABIO-RSNA layout: `train_study_level.csv` (id `<study>_study` and one 0/1
 * column per class), `train_image_level.csv` (id `<image>_image`, `boxes`, `label`,
 * `StudyInstanceUID`) and `train/<study>/<series>/<image>.dcm`. Patients come from a study-CSV
 * column or each file's DICOM PatientID (header only). Problems become bad items.
 */
export async function buildSiimCatalog(config: SiimDataConfig, badItems: BadItemLog): Promise<CatalogItem[]> {
  const root = resolve(config.root);
  const studyPath = resolve(root, config.studyCsv);
  const imagePath = resolve(root, config.imageCsv);
  const imageDir = resolve(root, config.imageDir);
  const paths = await DatasetPaths.create(root, config.allowedRoots);
  const studies = readStudies(await readTextFile(studyPath, "study-level CSV"), studyPath, config, badItems);
  const imageTable = parseCsv(await readTextFile(imagePath, "image-level CSV"));
  for (const column of ["id", "StudyInstanceUID"]) {
    if (!imageTable.header.includes(column)) {
      throw new FlError(
        ErrorCode.DataError,
        `${imagePath}: missing column "${column}" (has ${imageTable.header.join(", ")})`,
      );
    }
  }

  // imageId -> relative path under imageDir; files are named <image>.dcm anywhere below it.
  const files = new Map<string, string>();
  for (const rel of await listImageFiles(imageDir, paths, badItems)) {
    const id = basename(rel).replace(/\.(dcm|dicom|png|jpe?g)$/i, "");
    if (files.has(id))
      badItems.report("duplicate-id", resolve(imageDir, rel), `image id ${id} also at ${files.get(id)}`);
    else files.set(id, rel);
  }

  const seen = new Set<string>();
  const items: CatalogItem[] = [];
  for (const row of imageTable.rows) {
    const origin = `${imagePath}:${row.line}`;
    if (row.fieldCount !== imageTable.header.length) {
      badItems.report(
        "malformed-row",
        origin,
        `${row.fieldCount} fields, header has ${imageTable.header.length}`,
      );
      continue;
    }
    const imageId = (row.values.id ?? "").trim().replace(/_image$/, "");
    const studyId = (row.values.StudyInstanceUID ?? "").trim();
    if (imageId === "" || studyId === "") {
      badItems.report("malformed-row", origin, "empty id or StudyInstanceUID");
      continue;
    }
    if (seen.has(imageId)) {
      badItems.report("duplicate-id", origin, `image id ${imageId} is listed twice`);
      continue;
    }
    seen.add(imageId);
    const rel = files.get(imageId);
    if (!rel) {
      badItems.report("label-without-image", origin, `no file ${imageId}.dcm under ${imageDir}`);
      continue;
    }
    files.delete(imageId);
    const study = studies.get(studyId);
    if (!study && !config.includeUnlabelled) {
      badItems.report(
        "image-without-label",
        resolve(imageDir, rel),
        `study ${studyId} is not in ${studyPath}`,
      );
      continue;
    }
    let boxes: Box[];
    try {
      boxes = parseBoxesCell(row.values.boxes ?? "");
      if (boxes.length === 0 && row.values.label) boxes = parseSiimLabelBoxes(row.values.label);
    } catch (error) {
      badItems.report("malformed-row", origin, (error as Error).message);
      continue;
    }
    const located = await paths.locate(rel, imageDir);
    // The walk listed it inside the allowed folders; it may have changed since.
    if (located.kind !== "inside") continue;
    const path = located.path;
    const patientId = study?.patientId ?? (await patientFromHeader(path, badItems));
    if (patientId === null) continue;
    items.push({
      imageId,
      studyId,
      patientId: patientId ?? studyId,
      label: study?.label ?? -1,
      site: study?.site ?? DEFAULT_SITE,
      source: { kind: "file", path, boxes, origin },
    });
  }
  // Files nobody labelled.
  for (const [id, rel] of files) {
    const located = await paths.locate(rel, imageDir);
    if (located.kind !== "inside") continue;
    const path = located.path;
    if (!config.includeUnlabelled) {
      badItems.report("image-without-label", path, `image ${id} is not in ${imagePath}`);
      continue;
    }
    const header = await readHeaderOrReport(path, badItems);
    if (!header) continue;
    const studyId = header.studyInstanceUid ?? id;
    items.push({
      imageId: id,
      studyId,
      patientId: header.patientId ?? studyId,
      label: -1,
      site: studies.get(studyId)?.site ?? DEFAULT_SITE,
      source: { kind: "file", path, boxes: [], origin: path },
    });
  }
  return items;
}

/** PatientID from the header; undefined when absent, null when the file is unreadable (reported). */
async function patientFromHeader(path: string, badItems: BadItemLog): Promise<string | undefined | null> {
  if (!/\.(dcm|dicom)$/i.test(path)) return undefined;
  const header = await readHeaderOrReport(path, badItems);
  return header ? header.patientId : null;
}

async function readHeaderOrReport(path: string, badItems: BadItemLog) {
  try {
    return /\.(dcm|dicom)$/i.test(path) ? await readDicomHeaderFromFile(path) : {};
  } catch (error) {
    if (isFlError(error)) {
      badItems.report("corrupt-file", path, error.message);
      return undefined;
    }
    throw error;
  }
}

function readStudies(
  text: string,
  path: string,
  config: SiimDataConfig,
  badItems: BadItemLog,
): Map<string, StudyRow> {
  const table = parseCsv(text);
  const missing = ["id", ...CLASS_NAMES].filter((c) => !table.header.includes(c));
  if (config.siteColumn && !table.header.includes(config.siteColumn)) missing.push(config.siteColumn);
  if (config.patientColumn && !table.header.includes(config.patientColumn))
    missing.push(config.patientColumn);
  if (missing.length > 0) {
    throw new FlError(
      ErrorCode.DataError,
      `${path}: missing column(s) ${missing.map((m) => `"${m}"`).join(", ")} (has ${table.header.join(", ")})`,
    );
  }
  const unknown = table.header.filter(
    (c) =>
      c !== "id" && c !== config.siteColumn && c !== config.patientColumn && /appearance|pneumonia/i.test(c),
  );
  const studies = new Map<string, StudyRow>();
  for (const row of table.rows) {
    const origin = `${path}:${row.line}`;
    const id = (row.values.id ?? "").trim().replace(/_study$/, "");
    if (id === "") {
      badItems.report("malformed-row", origin, "empty study id");
      continue;
    }
    if (studies.has(id)) {
      badItems.report("duplicate-id", origin, `study ${id} is listed twice`);
      continue;
    }
    const flags = CLASS_NAMES.map((name) => (row.values[name] ?? "").trim());
    const hot = flags.flatMap((flag, k) => (flag === "1" || flag === "1.0" ? [k] : []));
    const extraClass = unknown.find(
      (c) => !(CLASS_NAMES as readonly string[]).includes(c) && (row.values[c] ?? "").trim() === "1",
    );
    if (extraClass) {
      badItems.report(
        "unknown-class",
        origin,
        `class column "${extraClass}" is not one of ${CLASS_NAMES.join(", ")}`,
      );
      continue;
    }
    if (hot.length !== 1) {
      badItems.report(
        hot.length === 0 ? "unknown-class" : "malformed-row",
        origin,
        hot.length === 0 ? "no class column is 1" : `${hot.length} class columns are 1 (need exactly one)`,
      );
      continue;
    }
    const site = config.siteColumn ? (row.values[config.siteColumn] ?? "").trim() : DEFAULT_SITE;
    if (site === "") {
      badItems.report("malformed-row", origin, `empty site in column "${config.siteColumn}"`);
      continue;
    }
    const patient = config.patientColumn ? (row.values[config.patientColumn] ?? "").trim() : "";
    studies.set(id, { label: hot[0] as number, site, origin, ...(patient ? { patientId: patient } : {}) });
  }
  return studies;
}
