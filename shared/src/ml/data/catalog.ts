import type { SiteProfile } from "./synth/hospitals.js";
import type { Box } from "./types.js";

/** A synthetic image: rendered on demand from its seeds. */
export interface SyntheticSource {
  readonly kind: "synthetic";
  readonly profile: SiteProfile;
  /** The class actually drawn (the item's `label` may differ by label noise). */
  readonly trueLabel: number;
  readonly patientSeed: number;
  readonly studySeed: number;
  readonly imageSeed: number;
}

/** An image file on disk with its annotations. */
export interface FileSource {
  readonly kind: "file";
  /** Absolute path of the image (DICOM, PNG or JPEG). */
  readonly path: string;
  /** Opacity boxes in the file's own pixel coordinates. */
  readonly boxes: readonly Box[];
  /** Optional mask image (non-zero = opacity), same geometry as the image. */
  readonly maskPath?: string;
  /** Where the item's label came from, e.g. `labels.csv:12`, for error messages. */
  readonly origin: string;
}

/**
 * One image as the data layer knows it before any pixels are read: ids, label, natural site and
 * how to get its pixels. Catalogs are cheap, so every process can build the full one and
 * partition it identically, then materialise only its own site.
 */
export interface CatalogItem {
  readonly imageId: string;
  readonly studyId: string;
  readonly patientId: string;
  /** Recorded class index (CLASS_NAMES order); -1 = unlabelled. */
  readonly label: number;
  /** The site the item came from (the natural partition). */
  readonly site: string;
  readonly source: SyntheticSource | FileSource;
}

/**
 * Groups items that must stay together: the connected components of "same study" and
 * "same patient" (union-find), so that even inconsistent ids cannot leak across splits.
 * Returns arrays of item indices, in order of first appearance.
 */
export function groupItems(items: readonly CatalogItem[]): number[][] {
  const parent = items.map((_, i) => i);
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root] as number;
    while (parent[i] !== root) {
      const next = parent[i] as number;
      parent[i] = root;
      i = next;
    }
    return root;
  };
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  const firstByStudy = new Map<string, number>();
  const firstByPatient = new Map<string, number>();
  items.forEach((item, i) => {
    const s = firstByStudy.get(item.studyId);
    if (s === undefined) firstByStudy.set(item.studyId, i);
    else union(s, i);
    const p = firstByPatient.get(item.patientId);
    if (p === undefined) firstByPatient.set(item.patientId, i);
    else union(p, i);
  });
  const groups = new Map<number, number[]>();
  items.forEach((_, i) => {
    const root = find(i);
    const group = groups.get(root);
    if (group) group.push(i);
    else groups.set(root, [i]);
  });
  return [...groups.values()];
}

/** The label a group is stratified by: its most frequent label (ties: the lower index, labelled first). */
export function groupLabel(items: readonly CatalogItem[], group: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const i of group) {
    const label = (items[i] as CatalogItem).label;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  let best = -1;
  let bestCount = -1;
  for (const [label, count] of [...counts.entries()].sort((a, b) => rank(a[0]) - rank(b[0]))) {
    if (count > bestCount) {
      best = label;
      bestCount = count;
    }
  }
  return best;
}

function rank(label: number): number {
  return label < 0 ? Number.MAX_SAFE_INTEGER : label;
}
