// Turns a data config into sites and splits: builds the catalog (through the loaders), partitions
// it among sites and materialises one site's images. The schema and types are in config-schema.ts.
import { ErrorCode, FlError } from "../../errors.js";
import { BadItemLog, type BadItemPolicy } from "./bad-items.js";
import type { CatalogItem } from "./catalog.js";
import { type DataConfig, type ResolvedDataConfig, resolveDataConfig } from "./config-schema.js";
import { buildFolderCatalog } from "./loaders/folder.js";
import { buildSiimCatalog } from "./loaders/siim.js";
import { materialize } from "./materialize.js";
import { type Partition, type PartitionSpec, partitionItems } from "./partition.js";
import { type SplitIndices, splitItems } from "./split.js";
import { type PartitionSummary, summarizePartition } from "./summary.js";
import { sitePreset } from "./synth/hospitals.js";
import { planSyntheticSite } from "./synth/plan.js";
import type { SiteSplits } from "./types.js";

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
      return sitePreset(config.preset).flatMap((profile) =>
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
    ...(resolved.kind !== "synthetic" ? { maxImageBytes: resolved.maxImageBytes } : {}),
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
