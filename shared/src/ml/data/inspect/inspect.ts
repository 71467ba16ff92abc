import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Rng } from "../../../random.js";
import type { CatalogItem } from "../catalog.js";
import { type LoadOptions, planData, siteSplitIndices } from "../config.js";
import type { DataConfig } from "../config-schema.js";
import { materialize } from "../materialize.js";
import type { SplitIndices } from "../split.js";
import {
  countClasses,
  formatPartitionSummary,
  type PartitionSummary,
  summarizePartition,
} from "../summary.js";
import { renderContactSheet } from "./contact-sheet.js";

export interface InspectOptions extends LoadOptions {
  /** Folder for partition-summary.{json,txt}, bad-items.json and contact-sheets/. */
  readonly out: string;
  /** Images per class on each site's contact sheet. */
  readonly perClass?: number;
}

export interface InspectResult {
  readonly summary: PartitionSummary;
  /** The summary as a printable table. */
  readonly table: string;
  readonly files: readonly string[];
}

/** Summarises a dataset's partition and writes one contact sheet per site (only sampled images are read). */
export async function inspectDataset(config: DataConfig, options: InspectOptions): Promise<InspectResult> {
  const plan = await planData(config, options);
  const splits = new Map<string, SplitIndices>();
  for (const site of plan.partition.keys()) splits.set(site, siteSplitIndices(plan, site));
  await mkdir(join(options.out, "contact-sheets"), { recursive: true });
  const files: string[] = [];
  const perClass = options.perClass ?? 4;
  const size = plan.config.imageSize;
  for (const [site, indices] of plan.partition) {
    const rng = Rng.derive(plan.config.seed, "contact-sheet", site);
    const byLabel = new Map<number, CatalogItem[]>();
    for (const i of indices) {
      const item = plan.items[i] as CatalogItem;
      const list = byLabel.get(item.label) ?? [];
      list.push(item);
      byLabel.set(item.label, list);
    }
    const sample = [...byLabel.entries()]
      .sort((a, b) => a[0] - b[0])
      .flatMap(([, list]) => rng.shuffle(list).slice(0, perClass));
    const set = await materialize(sample, {
      size,
      maskSource: plan.config.kind === "synthetic" ? plan.config.maskSource : "boxes",
      resize: plan.config.kind === "synthetic" ? "stretch" : plan.config.resize,
      badItems: plan.badItems,
      ...(plan.config.kind !== "synthetic" ? { maxImageBytes: plan.config.maxImageBytes } : {}),
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    });
    const path = join(options.out, "contact-sheets", `${site.replace(/[^A-Za-z0-9._-]/g, "_")}.png`);
    await writeFile(
      path,
      renderContactSheet(set, {
        title: `${site}: ${indices.length} images`,
        perClass,
        seed: plan.config.seed,
        tile: Math.max(128, size),
        classCounts: countClasses(plan.items, indices).perClass,
      }),
    );
    files.push(path);
  }
  const summary = summarizePartition(plan.items, splits, plan.badItems.all);
  const table = formatPartitionSummary(summary);
  const summaryJson = join(options.out, "partition-summary.json");
  const summaryTxt = join(options.out, "partition-summary.txt");
  const badJson = join(options.out, "bad-items.json");
  await writeFile(summaryJson, `${JSON.stringify(summary, null, 2)}\n`);
  await writeFile(summaryTxt, `${table}\n`);
  await writeFile(badJson, `${JSON.stringify(plan.badItems.all, null, 2)}\n`);
  files.push(summaryJson, summaryTxt, badJson);
  return { summary, table, files };
}
