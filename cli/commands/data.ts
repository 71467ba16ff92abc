import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import YAML from "yaml";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import type { DataConfig } from "../../shared/src/ml/data/index.js";
import { PRESET_NAMES, resolveDataConfig } from "../../shared/src/ml/data/index.js";
import { inspectDataset } from "../../shared/src/ml/data/inspect/inspect.js";
import { writeSyntheticDataset } from "../../shared/src/ml/data/synth/write-siim.js";

function positiveInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new FlError(ErrorCode.InvalidConfig, `${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

function nonNegativeInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new FlError(ErrorCode.InvalidConfig, `${name} must be an integer >= 0, got "${value}"`);
    return n;
  };
}

function positiveNumber(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!(n > 0)) throw new FlError(ErrorCode.InvalidConfig, `${name} must be a number > 0, got "${value}"`);
    return n;
  };
}

function badItemPolicy(value: string): "skip" | "fail" {
  if (value === "skip" || value === "fail") return value;
  throw new FlError(ErrorCode.InvalidConfig, `--on-bad-item must be "skip" or "fail", got "${value}"`);
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

interface SynthOptions {
  out: string;
  preset: string;
  imagesPerSite: number;
  seed: number;
  nativeSize?: number;
  png: boolean;
  dicom: boolean;
  sheetSize: number;
  perClass: number;
}

interface InspectCliOptions {
  config?: string;
  kind?: string;
  preset?: string;
  imagesPerSite?: number;
  labels?: string;
  siteColumn?: string;
  studyColumn?: string;
  patientColumn?: string;
  partition?: string;
  sites?: number;
  alpha?: number;
  imageSize: number;
  seed: number;
  out?: string;
  onBadItem: "skip" | "fail";
  cacheDir?: string;
  perClass: number;
  includeUnlabelled: boolean;
}

/** Reads a data config from JSON or YAML; accepts a whole federation config with a `data` key. */
function readDataConfigFile(path: string): DataConfig {
  let raw: unknown;
  try {
    const text = readFileSync(path, "utf8");
    raw = /\.ya?ml$/i.test(path) ? YAML.parse(text) : JSON.parse(text);
  } catch (error) {
    throw new FlError(ErrorCode.InvalidConfig, `${path}: cannot read the config (${errorMessage(error)})`, {
      cause: error,
    });
  }
  const section = raw && typeof raw === "object" && "data" in raw ? (raw as { data: unknown }).data : raw;
  return resolveDataConfig(section as DataConfig);
}

/** Builds a data config from `fl data inspect` flags. */
function dataConfigFromFlags(root: string | undefined, o: InspectCliOptions): DataConfig {
  if (o.config) return readDataConfigFile(o.config);
  const partition =
    o.partition === undefined || o.partition === "natural"
      ? { kind: "natural" as const }
      : o.partition === "iid"
        ? { kind: "iid" as const, sites: o.sites ?? 3 }
        : o.partition === "dirichlet" || o.partition === "quantity"
          ? { kind: o.partition as "dirichlet" | "quantity", sites: o.sites ?? 3, alpha: o.alpha ?? 0.5 }
          : undefined;
  if (!partition) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `--partition must be natural, iid, dirichlet or quantity, got "${o.partition}"`,
    );
  }
  const common = { imageSize: o.imageSize, seed: o.seed, partition };
  if (o.preset || o.kind === "synthetic") {
    return resolveDataConfig({
      kind: "synthetic",
      preset: o.preset ?? "3-hospitals",
      imagesPerSite: o.imagesPerSite ?? 200,
      ...common,
    });
  }
  if (!root)
    throw new FlError(ErrorCode.InvalidConfig, "give a dataset folder, --config FILE, or --preset NAME");
  const kind = o.kind ?? (existsSync(join(root, "train_study_level.csv")) ? "siim" : "folder");
  const optional = {
    ...(o.siteColumn ? { siteColumn: o.siteColumn } : {}),
    ...(o.patientColumn ? { patientColumn: o.patientColumn } : {}),
    includeUnlabelled: o.includeUnlabelled,
  };
  if (kind === "siim") return resolveDataConfig({ kind: "siim", root, ...common, ...optional });
  if (kind === "folder") {
    return resolveDataConfig({
      kind: "folder",
      root,
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.studyColumn ? { studyColumn: o.studyColumn } : {}),
      ...common,
      ...optional,
    });
  }
  throw new FlError(ErrorCode.InvalidConfig, `--kind must be siim, folder or synthetic, got "${kind}"`);
}

/** Adds `fl data synth` and `fl data inspect`. */
export function registerDataCommands(program: Command): void {
  const data = program.command("data").description("synthetic chest X-ray datasets, dataset inspection");
  data
    .command("synth")
    .description(
      "write a synthetic federation in the SIIM-FISABIO-RSNA layout (CSVs + DICOM), with a partition summary and contact sheets",
    )
    .requiredOption("--out <dir>", "output folder")
    .option("--preset <name>", `hospital preset: ${PRESET_NAMES.join(", ")}`, "3-hospitals")
    .option("--images-per-site <n>", "images per hospital", positiveInt("--images-per-site"), 240)
    .option("--seed <n>", "random seed", nonNegativeInt("--seed"), 0)
    .option(
      "--native-size <px>",
      "stored image size for every site (default: each site's own)",
      positiveInt("--native-size"),
    )
    .option("--png", "also write PNGs with a folder-layout labels.csv under png/", false)
    .option("--no-dicom", "do not write DICOM files")
    .option("--sheet-size <px>", "image size on the contact sheets", positiveInt("--sheet-size"), 128)
    .option("--per-class <n>", "images per class on each contact sheet", positiveInt("--per-class"), 4)
    .action(async (o: SynthOptions) => {
      if (!PRESET_NAMES.includes(o.preset)) {
        throw new FlError(
          ErrorCode.InvalidConfig,
          `unknown --preset "${o.preset}": use one of ${PRESET_NAMES.join(", ")}`,
        );
      }
      if (!o.dicom && !o.png)
        throw new FlError(ErrorCode.InvalidConfig, "--no-dicom needs --png: nothing would be written");
      const written = await writeSyntheticDataset({
        out: o.out,
        preset: o.preset,
        imagesPerSite: o.imagesPerSite,
        seed: o.seed,
        dicom: o.dicom,
        png: o.png,
        ...(o.nativeSize ? { nativeSize: o.nativeSize } : {}),
        log,
      });
      // Inspect through the real loaders, so the sheets show what a user loading these files gets.
      const config = readDataConfigFile(
        written.folderConfig && !o.dicom ? written.folderConfig : written.siimConfig,
      );
      const result = await inspectDataset(
        { ...config, imageSize: o.sheetSize },
        { out: written.root, perClass: o.perClass, onBadItem: "fail", log },
      );
      process.stdout.write(
        `${result.table}\n\nwrote ${written.images} images to ${written.root} ` +
          `(${Math.round(written.imagesPerMinute)} images/min rendering at stored size)\n` +
          `  load with: ${written.siimConfig}${written.folderConfig ? ` or ${written.folderConfig}` : ""}\n` +
          result.files.map((f) => `  ${f}\n`).join(""),
      );
    });

  data
    .command("inspect [root]")
    .description(
      "summarise a dataset's sites, classes and splits, report bad items, and write contact sheets per site",
    )
    .option("--config <file>", "JSON/YAML data config (or a federation config with a `data` section)")
    .option("--kind <kind>", "siim, folder or synthetic (default: siim when train_study_level.csv exists)")
    .option("--preset <name>", "inspect a synthetic preset instead of files")
    .option("--images-per-site <n>", "synthetic: images per hospital", positiveInt("--images-per-site"))
    .option("--labels <csv>", "folder: labels CSV relative to the root", undefined)
    .option("--site-column <name>", "column that names each item's hospital")
    .option("--study-column <name>", "folder: column with the study id")
    .option("--patient-column <name>", "column with the patient id")
    .option("--partition <kind>", "natural, iid, dirichlet or quantity", "natural")
    .option("--sites <n>", "number of sites for iid/dirichlet/quantity", positiveInt("--sites"))
    .option("--alpha <a>", "Dirichlet concentration", positiveNumber("--alpha"))
    .option("--image-size <px>", "image size", positiveInt("--image-size"), 128)
    .option("--seed <n>", "random seed", nonNegativeInt("--seed"), 0)
    .option("--out <dir>", "output folder (default: ./inspect)")
    .option(
      "--on-bad-item <policy>",
      "skip (count and continue) or fail (stop at the first)",
      badItemPolicy,
      "skip",
    )
    .option("--cache-dir <dir>", "preprocessed-image cache")
    .option("--per-class <n>", "images per class on each contact sheet", positiveInt("--per-class"), 4)
    .option(
      "--include-unlabelled",
      "keep images without labels as unlabelled instead of reporting them",
      false,
    )
    .action(async (root: string | undefined, o: InspectCliOptions) => {
      const config = dataConfigFromFlags(root ? resolve(root) : undefined, o);
      const out = resolve(o.out ?? "inspect");
      const result = await inspectDataset(config, {
        out,
        perClass: o.perClass,
        onBadItem: o.onBadItem,
        log,
        ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      });
      process.stdout.write(`${result.table}\n\n${result.files.map((f) => `  ${f}\n`).join("")}`);
    });
}
