import type { BadItem, BadItemKind } from "./bad-items.js";
import type { CatalogItem } from "./catalog.js";
import { SPLIT_NAMES, type SplitIndices, type SplitName } from "./split.js";
import { CLASS_KEYS, NUM_CLASSES } from "./types.js";

/** Image counts per class (CLASS_NAMES order) plus unlabelled. */
export interface ClassCounts {
  readonly total: number;
  readonly perClass: readonly number[];
  readonly unlabelled: number;
}

export interface SiteSummary {
  readonly siteId: string;
  readonly all: ClassCounts;
  readonly splits: Readonly<Record<SplitName, ClassCounts>>;
  readonly studies: number;
  readonly patients: number;
}

/** What `fl data synth` / `fl data inspect` print and save as partition-summary.json. */
export interface PartitionSummary {
  readonly classKeys: readonly string[];
  readonly sites: readonly SiteSummary[];
  readonly pooled: ClassCounts;
  readonly badItems: { readonly total: number; readonly byKind: Partial<Record<BadItemKind, number>> };
}

export function countClasses(items: readonly CatalogItem[], indices: readonly number[]): ClassCounts {
  const perClass = new Array<number>(NUM_CLASSES).fill(0);
  let unlabelled = 0;
  for (const i of indices) {
    const label = (items[i] as CatalogItem).label;
    if (label >= 0 && label < NUM_CLASSES) perClass[label] = (perClass[label] ?? 0) + 1;
    else unlabelled++;
  }
  return { total: indices.length, perClass, unlabelled };
}

export function summarizePartition(
  items: readonly CatalogItem[],
  splits: ReadonlyMap<string, SplitIndices>,
  badItems: readonly BadItem[],
): PartitionSummary {
  const sites: SiteSummary[] = [];
  const pooledIndices: number[] = [];
  for (const [siteId, split] of splits) {
    const all = [...split.train, ...split.val, ...split.test];
    pooledIndices.push(...all);
    sites.push({
      siteId,
      all: countClasses(items, all),
      splits: {
        train: countClasses(items, split.train),
        val: countClasses(items, split.val),
        test: countClasses(items, split.test),
      },
      studies: new Set(all.map((i) => (items[i] as CatalogItem).studyId)).size,
      patients: new Set(all.map((i) => (items[i] as CatalogItem).patientId)).size,
    });
  }
  const byKind: Partial<Record<BadItemKind, number>> = {};
  for (const item of badItems) byKind[item.kind] = (byKind[item.kind] ?? 0) + 1;
  return {
    classKeys: CLASS_KEYS,
    sites,
    pooled: countClasses(items, pooledIndices),
    badItems: { total: badItems.length, byKind },
  };
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "-" : `${Math.round((100 * part) / whole)}%`;
}

/** A fixed-width table: one row per site with class counts and shares, split sizes, bad items. */
export function formatPartitionSummary(summary: PartitionSummary): string {
  const header = ["site", "images", ...CLASS_KEYS, "unlab.", "train/val/test", "patients"];
  const rows: string[][] = [];
  const row = (name: string, c: ClassCounts, extra: string[]): string[] => [
    name,
    String(c.total),
    ...c.perClass.map((n) => `${n} (${percent(n, c.total)})`),
    String(c.unlabelled),
    ...extra,
  ];
  for (const site of summary.sites) {
    rows.push(
      row(site.siteId, site.all, [
        SPLIT_NAMES.map((s) => site.splits[s].total).join("/"),
        String(site.patients),
      ]),
    );
  }
  rows.push(row("pooled", summary.pooled, ["", ""]));
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => (r[col] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, col) => cell.padEnd(widths[col] ?? 0))
      .join("  ")
      .trimEnd();
  const lines = [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
  if (summary.badItems.total > 0) {
    const kinds = Object.entries(summary.badItems.byKind)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(", ");
    lines.push(`bad items skipped: ${summary.badItems.total} (${kinds})`);
  }
  return lines.join("\n");
}
