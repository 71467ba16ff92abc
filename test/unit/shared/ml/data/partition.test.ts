import { describe, expect, it } from "vitest";
import type { CatalogItem } from "../../../../../shared/src/ml/data/catalog.js";
import { partitionItems } from "../../../../../shared/src/ml/data/partition.js";

/** `perClass` single-image patients of each class, from two natural sites. */
function catalog(perClass: readonly number[], multiStudyEvery = 0): CatalogItem[] {
  const items: CatalogItem[] = [];
  let n = 0;
  perClass.forEach((count, label) => {
    for (let k = 0; k < count; k++) {
      const patient = multiStudyEvery > 0 && n % multiStudyEvery === 1 ? `p${n - 1}` : `p${n}`;
      items.push({
        imageId: `i${n}`,
        studyId: `s${n}`,
        patientId: patient,
        label,
        site: n % 3 === 0 ? "north" : "south",
        source: { kind: "file", path: "", boxes: [], origin: "" },
      });
      n++;
    }
  });
  return items;
}

function classShares(items: readonly CatalogItem[], indices: readonly number[], classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const i of indices)
    counts[(items[i] as CatalogItem).label] = (counts[(items[i] as CatalogItem).label] ?? 0) + 1;
  return counts;
}

describe("partitionItems", () => {
  it("natural: groups by each item's own site", () => {
    const items = catalog([30, 30]);
    const partition = partitionItems(items, { kind: "natural" }, 0);
    expect([...partition.keys()].sort()).toEqual(["north", "south"]);
    for (const [site, indices] of partition) for (const i of indices) expect(items[i]?.site).toBe(site);
  });

  it("iid: every site gets the same class mix and sizes within one item", () => {
    const items = catalog([280, 470, 170, 80]);
    const partition = partitionItems(items, { kind: "iid", sites: 5 }, 3);
    const sizes = [...partition.values()].map((v) => v.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const indices of partition.values()) {
      const counts = classShares(items, indices, 4);
      // 280 / 5 = 56 etc.: each class is dealt round-robin, so at most one off.
      for (const [c, expected] of [56, 94, 34, 16].entries()) {
        expect(Math.abs((counts[c] as number) - expected)).toBeLessThanOrEqual(1);
      }
    }
  });

  it("keeps a patient's studies on one site", () => {
    const items = catalog([100, 100, 100, 100], 2);
    for (const spec of [
      { kind: "iid", sites: 4 },
      { kind: "dirichlet", sites: 4, alpha: 0.3 },
      { kind: "quantity", sites: 4, alpha: 0.5 },
    ] as const) {
      const partition = partitionItems(items, spec, 1);
      const siteOf = new Map<string, string>();
      let covered = 0;
      for (const [site, indices] of partition) {
        covered += indices.length;
        for (const i of indices) {
          const patient = (items[i] as CatalogItem).patientId;
          expect(siteOf.get(patient) ?? site).toBe(site);
          siteOf.set(patient, site);
        }
      }
      expect(covered).toBe(items.length);
    }
  });

  it("dirichlet: per-class site shares have the variance of Dir(alpha)", () => {
    // For Dir(alpha * 1_K) each share is Beta(alpha, (K-1) alpha): mean 1/K and
    // variance (1/K)(1 - 1/K) / (K alpha + 1). Pool shares over classes and seeds.
    const K = 5;
    const items = catalog([2000, 2000, 2000, 2000]);
    for (const alpha of [0.1, 0.5, 2, 10]) {
      const shares: number[] = [];
      for (let seed = 0; seed < 30; seed++) {
        const partition = partitionItems(items, { kind: "dirichlet", sites: K, alpha, minItems: 0 }, seed);
        for (let c = 0; c < 4; c++) {
          for (const indices of partition.values())
            shares.push((classShares(items, indices, 4)[c] as number) / 2000);
        }
      }
      const mean = shares.reduce((s, x) => s + x, 0) / shares.length;
      const variance = shares.reduce((s, x) => s + (x - mean) ** 2, 0) / shares.length;
      const expected = ((1 / K) * (1 - 1 / K)) / (K * alpha + 1);
      expect(mean).toBeCloseTo(1 / K, 6);
      // 120 Dirichlet draws per alpha: the sample variance is within ~25% of the truth.
      expect(variance / expected).toBeGreaterThan(0.75);
      expect(variance / expected).toBeLessThan(1.3);
    }
  });

  it("dirichlet: smaller alpha means more label skew", () => {
    const items = catalog([500, 500, 500, 500]);
    const skew = (alpha: number): number => {
      const partition = partitionItems(items, { kind: "dirichlet", sites: 4, alpha, minItems: 0 }, 9);
      let total = 0;
      for (const indices of partition.values()) {
        const counts = classShares(items, indices, 4);
        const n = counts.reduce((s, x) => s + x, 0) || 1;
        total += Math.max(...counts) / n;
      }
      return total / 4;
    };
    expect(skew(0.05)).toBeGreaterThan(skew(100) + 0.3);
  });

  it("quantity: site sizes vary with alpha, class mix stays similar", () => {
    const items = catalog([500, 500, 500, 500]);
    const sizesAt = (alpha: number) =>
      [...partitionItems(items, { kind: "quantity", sites: 4, alpha }, 2).values()].map((v) => v.length);
    const spread = (sizes: number[]) => Math.max(...sizes) / Math.max(1, Math.min(...sizes));
    expect(spread(sizesAt(0.3))).toBeGreaterThan(spread(sizesAt(100)));
    expect(sizesAt(0.3).reduce((s, x) => s + x, 0)).toBe(2000);
  });

  it("redraws until every site has minItems, and says so when it cannot", () => {
    const items = catalog([20, 20, 20, 20]);
    for (let seed = 0; seed < 10; seed++) {
      const partition = partitionItems(items, { kind: "dirichlet", sites: 6, alpha: 0.2, minItems: 3 }, seed);
      for (const indices of partition.values()) expect(indices.length).toBeGreaterThanOrEqual(3);
    }
    expect(() => partitionItems(items, { kind: "dirichlet", sites: 50, alpha: 0.1, minItems: 2 }, 0)).toThrow(
      /patient groups/,
    );
  });

  it("is deterministic in its seed", () => {
    const items = catalog([50, 50, 50, 50]);
    const spec = { kind: "dirichlet", sites: 3, alpha: 0.5 } as const;
    expect([...partitionItems(items, spec, 4)]).toEqual([...partitionItems(items, spec, 4)]);
    expect([...partitionItems(items, spec, 4)]).not.toEqual([...partitionItems(items, spec, 5)]);
  });
});
