import { z } from "zod";
import { ErrorCode, FlError } from "../../errors.js";
import { BadItemLog, type BadItemPolicy } from "./bad-items.js";
import type { CatalogItem } from "./catalog.js";
import { buildFolderCatalog } from "./loaders/folder.js";
import { buildSiimCatalog } from "./loaders/siim.js";
import { materialize } from "./materialize.js";
import { type Partition, type PartitionSpec, partitionItems } from "./partition.js";
import { type SplitIndices, splitItems } from "./split.js";
import { type PartitionSummary, summarizePartition } from "./summary.js";
import { hospitalPreset, PRESET_NAMES } from "./synth/hospitals.js";
import { planSyntheticSite } from "./synth/plan.js";
import type { SiteSplits } from "./types.js";

const PartitionSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("natural") }).strict(),
  z.object({ kind: z.literal("iid"), sites: z.number().int().min(1) }).strict(),
  z
    .object({
      kind: z.literal("dirichlet"),
      sites: z.number().int().min(1),
      alpha: z.number().positive(),
      minItems: z.number().int().min(0).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal("quantity"),
      sites: z.number().int().min(1),
      alpha: z.number().positive(),
      minItems: z.number().int().min(0).optional(),
    })
    .strict(),
]);

const SplitSchema = z
  .object({ val: z.number().min(0).max(0.9).default(0.15), test: z.number().min(0).max(0.9).default(0.15) })
  .strict()
  .refine((s) => s.val + s.test < 1, { message: "val + test must be below 1" });

const common = {
  /** Side of the square images handed to training, in pixels. */
  imageSize: z.number().int().min(8).max(2048).default(128),
  /** Seeds generation, partitioning and splitting. */
  seed: z.number().int().min(0).default(0),
  /** How the pooled items are divided among sites; default: each item's own site. */
  partition: PartitionSchema.default({ kind: "natural" }),
  /** Held-out fractions per site. */
  splits: SplitSchema.default({ val: 0.15, test: 0.15 }),
};

const fileCommon = {
  ...common,
  /** Dataset folder; relative paths in the config resolve against it. */
  root: z.string().min(1),
  /** How non-square images become square: "stretch" (SIIM practice) or "pad" (letterbox). */
  resize: z.enum(["stretch", "pad"]).default("stretch"),
  /** Column naming each item's hospital (natural partition); without it all items are site "all". */
  siteColumn: z.string().min(1).optional(),
  /** Keep images that have no label, with label -1 (for self-supervision), instead of reporting them. */
  includeUnlabelled: z.boolean().default(false),
};

const SyntheticSchema = z
  .object({
    kind: z.literal("synthetic"),
    /** A named federation of hospital profiles (see HOSPITAL_PRESETS). */
    preset: z.string().refine((p) => PRESET_NAMES.includes(p), {
      message: `unknown preset; use one of ${PRESET_NAMES.join(", ")}`,
    }),
    /** Images generated per hospital of the preset. */
    imagesPerSite: z.number().int().min(1).default(200),
    /** Training masks from the opacity boxes (as real data has) or from the exact lesion outlines. */
    maskSource: z.enum(["boxes", "lesions"]).default("boxes"),
    ...common,
  })
  .strict();

const SiimSchema = z
  .object({
    kind: z.literal("siim"),
    ...fileCommon,
    studyCsv: z.string().default("train_study_level.csv"),
    imageCsv: z.string().default("train_image_level.csv"),
    imageDir: z.string().default("train"),
    /** Column of the study CSV with a patient id; otherwise PatientID is read from each DICOM header. */
    patientColumn: z.string().min(1).optional(),
  })
  .strict();

const FolderSchema = z
  .object({
    kind: z.literal("folder"),
    ...fileCommon,
    /** Labels CSV, relative to root. */
    labels: z.string().default("labels.csv"),
    /** Column with the image path relative to root. */
    imageColumn: z.string().default("image"),
    /** Column with the class (name, short key, or index 0-3). */
    labelColumn: z.string().default("label"),
    studyColumn: z.string().min(1).optional(),
    patientColumn: z.string().min(1).optional(),
    /** Column with a mask image path (non-zero = opacity), relative to root. */
    maskColumn: z.string().min(1).optional(),
    /** Column with boxes: JSON or SIIM-style `[{'x': .., 'y': .., 'width': .., 'height': ..}]`. */
    boxesColumn: z.string().default("boxes"),
  })
  .strict();

const ResolvedSchema = z.discriminatedUnion("kind", [SyntheticSchema, SiimSchema, FolderSchema]);

/** A validated data config with every default filled in. */
export type ResolvedDataConfig = z.output<typeof ResolvedSchema>;
/** The `data` section of a federation/client config as written (defaults optional). */
export type DataConfig = z.input<typeof ResolvedSchema>;
export type SyntheticDataConfig = Extract<ResolvedDataConfig, { kind: "synthetic" }>;
export type SiimDataConfig = Extract<ResolvedDataConfig, { kind: "siim" }>;
export type FolderDataConfig = Extract<ResolvedDataConfig, { kind: "folder" }>;

/**
 * zod schema of the `data` section of a federation/client config (JSON/YAML). Examples:
 *   { kind: "synthetic", preset: "3-hospitals", imagesPerSite: 240, imageSize: 64, seed: 7 }
 *   { kind: "siim", root: "/data/siim", siteColumn: "site", imageSize: 128 }
 *   { kind: "folder", root: "/data/xrays", labels: "labels.csv", imageSize: 128 }
 * Parsing fills defaults; unknown keys are rejected so that typos do not pass silently.
 */
export const DataConfigSchema: z.ZodType<ResolvedDataConfig, DataConfig> = ResolvedSchema;

/** Validates a data config; throws FlError(InvalidConfig) listing each offending key. */
export function resolveDataConfig(config: DataConfig | ResolvedDataConfig): ResolvedDataConfig {
  const parsed = DataConfigSchema.safeParse(config);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (issue) => `data.${issue.path.join(".") || "(root)"}: ${issue.message}`,
  );
  throw new FlError(ErrorCode.InvalidConfig, `invalid data config: ${problems.join("; ")}`);
}

/** Options of the functions that read data. */
export interface LoadOptions {
  /** Folder for preprocessed-image caches (file datasets); no caching without it. */
  cacheDir?: string;
  /** What to do with bad items: leave them out and count them (default) or stop at the first. */
  onBadItem?: BadItemPolicy;
  /** Receives progress and bad-item lines. */
  log?: (line: string) => void;
}

/** A dataset divided among sites and split, before any pixels are read. */
export interface DataPlan {
  readonly config: ResolvedDataConfig;
  readonly items: readonly CatalogItem[];
  readonly partition: Partition;
  readonly badItems: BadItemLog;
}

/** Builds the catalog and partition of a config (cheap: reads CSVs and headers, no pixels). */
export async function planData(
  config: DataConfig | ResolvedDataConfig,
  options: LoadOptions = {},
): Promise<DataPlan> {
  const resolved = resolveDataConfig(config);
  const badItems = new BadItemLog(options.onBadItem ?? "skip", options.log);
  const items = await buildCatalog(resolved, badItems);
  const partition = partitionItems(items, resolved.partition as PartitionSpec, resolved.seed);
  const nonEmpty = new Map<string, readonly number[]>();
  for (const [site, indices] of partition) {
    if (indices.length === 0) {
      badItems.report("empty-site", describeSource(resolved), `site "${site}" has no usable images`);
    } else nonEmpty.set(site, indices);
  }
  return { config: resolved, items, partition: nonEmpty, badItems };
}

async function buildCatalog(config: ResolvedDataConfig, badItems: BadItemLog): Promise<CatalogItem[]> {
  switch (config.kind) {
    case "synthetic":
      return hospitalPreset(config.preset).flatMap((profile) =>
        planSyntheticSite(profile, config.imagesPerSite, config.seed),
      );
    case "siim":
      return buildSiimCatalog(config, badItems);
    case "folder":
      return buildFolderCatalog(config, badItems);
  }
}

function describeSource(config: ResolvedDataConfig): string {
  return config.kind === "synthetic" ? `synthetic preset ${config.preset}` : config.root;
}

/** The site ids a data config defines (preset's hospitals, or the sites/partition of a real set). */
export async function listSites(config: DataConfig, options: LoadOptions = {}): Promise<string[]> {
  const plan = await planData(config, options);
  return [...plan.partition.keys()];
}

/** Train/val/test indices (into plan.items) of one site. */
export function siteSplitIndices(plan: DataPlan, siteId: string): SplitIndices {
  const indices = plan.partition.get(siteId);
  if (!indices) {
    throw new FlError(
      ErrorCode.NotFound,
      `no site "${siteId}" in this data config: its sites are ${[...plan.partition.keys()].join(", ") || "(none)"}`,
    );
  }
  const siteItems = indices.map((i) => plan.items[i] as CatalogItem);
  const local = splitItems(siteItems, plan.config.splits, plan.config.seed);
  const toGlobal = (list: readonly number[]): number[] => list.map((k) => indices[k] as number);
  return { train: toGlobal(local.train), val: toGlobal(local.val), test: toGlobal(local.test) };
}

/**
 * One hospital's train/val/test ImageSets, deterministic for a given config. Builds only this
 * site's images, so each client process pays for its own data only.
 */
export async function loadSiteSplits(
  config: DataConfig,
  siteId: string,
  options: LoadOptions = {},
): Promise<SiteSplits> {
  const plan = await planData(config, options);
  const split = siteSplitIndices(plan, siteId);
  const resolved = plan.config;
  const materializeOptions = {
    size: resolved.imageSize,
    maskSource: resolved.kind === "synthetic" ? resolved.maskSource : ("boxes" as const),
    resize: resolved.kind === "synthetic" ? ("stretch" as const) : resolved.resize,
    badItems: plan.badItems,
    ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
  };
  const pick = (list: readonly number[]): CatalogItem[] => list.map((i) => plan.items[i] as CatalogItem);
  const train = await materialize(pick(split.train), materializeOptions);
  const val = await materialize(pick(split.val), materializeOptions);
  const test = await materialize(pick(split.test), materializeOptions);
  if (train.count + val.count + test.count === 0) {
    plan.badItems.report("empty-site", describeSource(resolved), `site "${siteId}" has no readable images`);
  }
  options.log?.(
    `data: site ${siteId}: train ${train.count}, val ${val.count}, test ${test.count} images` +
      (plan.badItems.all.length > 0 ? `, ${plan.badItems.all.length} bad item(s) skipped` : ""),
  );
  return { siteId, train, val, test };
}

/** Per-site, per-split class counts of a config (no pixels read), plus bad-item counts. */
export async function summarizeData(
  config: DataConfig,
  options: LoadOptions = {},
): Promise<PartitionSummary> {
  const plan = await planData(config, options);
  const splits = new Map<string, SplitIndices>();
  for (const site of plan.partition.keys()) splits.set(site, siteSplitIndices(plan, site));
  return summarizePartition(plan.items, splits, plan.badItems.all);
}
