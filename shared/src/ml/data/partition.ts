import { ErrorCode, FlError } from "../../errors.js";
import { Rng } from "../../random.js";
import { allocateCounts } from "./allocate-counts.js";
import { type CatalogItem, groupItems, groupLabel } from "./catalog.js";

/**
 * How a pooled set is divided among hospitals.
 * - natural: by the site each item came from;
 * - iid: every site gets the same class mix (stratified round-robin);
 * - dirichlet: label skew, per class the site shares are drawn from Dir(alpha) (small alpha,
 *   strong skew; Hsu et al. 2019);
 * - quantity: site sizes drawn from Dir(alpha), class mix left as is.
 * Items of one patient or study always go to the same site.
 */
export type PartitionSpec =
  | { readonly kind: "natural" }
  | { readonly kind: "iid"; readonly sites: number }
  | { readonly kind: "dirichlet"; readonly sites: number; readonly alpha: number; readonly minItems?: number }
  | { readonly kind: "quantity"; readonly sites: number; readonly alpha: number; readonly minItems?: number };

/** Site ids for the synthetic partitions: site-1 .. site-N. */
function partitionSiteIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `site-${i + 1}`);
}

/** Sites (in a stable order) mapped to their items' indices into `items`. */
export type Partition = ReadonlyMap<string, readonly number[]>;

const MAX_RESAMPLES = 200;

/** Divides `items` among sites. Deterministic in (items, spec, seed). */
export function partitionItems(items: readonly CatalogItem[], spec: PartitionSpec, seed: number): Partition {
  if (spec.kind === "natural") {
    const sites = new Map<string, number[]>();
    items.forEach((item, i) => {
      const list = sites.get(item.site);
      if (list) list.push(i);
      else sites.set(item.site, [i]);
    });
    return sites;
  }
  if (!Number.isInteger(spec.sites) || spec.sites < 1) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `partition.sites must be a positive integer, got ${spec.sites}`,
    );
  }
  const groups = groupItems(items);
  const ids = partitionSiteIds(spec.sites);
  if (spec.kind === "iid")
    return toPartition(ids, groups, iidAssign(items, groups, spec.sites, new Rng(seed)));
  if (!(spec.alpha > 0)) {
    throw new FlError(ErrorCode.InvalidConfig, `partition.alpha must be > 0, got ${spec.alpha}`);
  }
  const minItems = spec.minItems ?? 1;
  if (groups.length < spec.sites * minItems) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `cannot give ${spec.sites} sites at least ${minItems} item(s) each from ${groups.length} patient groups`,
    );
  }
  // Redraw (as common FL benchmarks do) until every site holds at least `minItems` items.
  for (let attempt = 0; attempt < MAX_RESAMPLES; attempt++) {
    const rng = Rng.derive(seed, spec.kind, attempt);
    const assignment =
      spec.kind === "dirichlet"
        ? dirichletAssign(items, groups, spec.sites, spec.alpha, rng)
        : quantityAssign(groups, spec.sites, spec.alpha, rng);
    const sizes = new Array<number>(spec.sites).fill(0);
    assignment.forEach((site, g) => {
      sizes[site] = (sizes[site] ?? 0) + (groups[g] as number[]).length;
    });
    if (sizes.every((size) => size >= minItems)) return toPartition(ids, groups, assignment);
  }
  throw new FlError(
    ErrorCode.InvalidConfig,
    `no ${spec.kind} partition with alpha=${spec.alpha} gave every one of ${spec.sites} sites ${minItems} item(s) ` +
      `in ${MAX_RESAMPLES} draws: raise alpha or lower the number of sites`,
  );
}

function toPartition(
  ids: readonly string[],
  groups: readonly number[][],
  assignment: readonly number[],
): Partition {
  const sites = new Map<string, number[]>(ids.map((id) => [id, []]));
  assignment.forEach((site, g) => {
    sites.get(ids[site] as string)?.push(...(groups[g] as number[]));
  });
  for (const list of sites.values()) list.sort((a, b) => a - b);
  return sites;
}

function groupsByLabel(items: readonly CatalogItem[], groups: readonly number[][]): Map<number, number[]> {
  const byLabel = new Map<number, number[]>();
  groups.forEach((group, g) => {
    const label = groupLabel(items, group);
    const list = byLabel.get(label);
    if (list) list.push(g);
    else byLabel.set(label, [g]);
  });
  return new Map([...byLabel.entries()].sort((a, b) => a[0] - b[0]));
}

function iidAssign(
  items: readonly CatalogItem[],
  groups: readonly number[][],
  sites: number,
  rng: Rng,
): number[] {
  const assignment = new Array<number>(groups.length).fill(0);
  let offset = 0;
  for (const list of groupsByLabel(items, groups).values()) {
    rng.shuffle(list);
    list.forEach((g, k) => {
      assignment[g] = (offset + k) % sites;
    });
    // Continue where this class stopped so that site sizes stay within one item of each other.
    offset = (offset + list.length) % sites;
  }
  return assignment;
}

function dirichletAssign(
  items: readonly CatalogItem[],
  groups: readonly number[][],
  sites: number,
  alpha: number,
  rng: Rng,
): number[] {
  const assignment = new Array<number>(groups.length).fill(0);
  for (const list of groupsByLabel(items, groups).values()) {
    rng.shuffle(list);
    const shares = rng.dirichlet(new Array<number>(sites).fill(alpha));
    const counts = allocateCounts(list.length, shares);
    let k = 0;
    counts.forEach((count, site) => {
      for (let c = 0; c < count; c++) assignment[list[k++] as number] = site;
    });
  }
  return assignment;
}

function quantityAssign(groups: readonly number[][], sites: number, alpha: number, rng: Rng): number[] {
  const order = rng.shuffle(groups.map((_, g) => g));
  const shares = rng.dirichlet(new Array<number>(sites).fill(alpha));
  const counts = allocateCounts(order.length, shares);
  const assignment = new Array<number>(groups.length).fill(0);
  let k = 0;
  counts.forEach((count, site) => {
    for (let c = 0; c < count; c++) assignment[order[k++] as number] = site;
  });
  return assignment;
}
