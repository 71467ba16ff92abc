import { describe, expect, it } from "vitest";
import type { CatalogItem } from "../../../../../shared/src/ml/data/catalog.js";
import { groupItems } from "../../../../../shared/src/ml/data/catalog.js";
import { splitItems } from "../../../../../shared/src/ml/data/split.js";
import { Rng } from "../../../../../shared/src/random.js";

/** A random catalog: patients with 1-3 studies, studies with 1-3 images, study-level labels. */
function randomCatalog(seed: number, patients: number, labelPerPatient = false): CatalogItem[] {
  const rng = new Rng(seed);
  const items: CatalogItem[] = [];
  for (let p = 0; p < patients; p++) {
    const studies = 1 + rng.int(3);
    const patientLabel = rng.categorical([0.28, 0.47, 0.17, 0.08]);
    for (let s = 0; s < studies; s++) {
      const label = labelPerPatient ? patientLabel : rng.categorical([0.28, 0.47, 0.17, 0.08]);
      const images = 1 + rng.int(3);
      for (let i = 0; i < images; i++) {
        items.push({
          imageId: `img-${p}-${s}-${i}`,
          studyId: `study-${p}-${s}`,
          patientId: `patient-${p}`,
          label,
          site: "a",
          source: { kind: "file", path: "", boxes: [], origin: "" },
        });
      }
    }
  }
  return items;
}

function splitOf(split: ReturnType<typeof splitItems>): Map<number, string> {
  const where = new Map<number, string>();
  for (const name of ["train", "val", "test"] as const) {
    for (const i of split[name]) {
      expect(where.has(i)).toBe(false);
      where.set(i, name);
    }
  }
  return where;
}

describe("splitItems", () => {
  it("never puts one patient or one study into two splits (many random catalogs)", () => {
    for (let seed = 0; seed < 40; seed++) {
      const items = randomCatalog(seed, 20 + seed * 5);
      const split = splitItems(items, { val: 0.15, test: 0.2 }, seed);
      const where = splitOf(split);
      expect(where.size).toBe(items.length);
      for (const key of ["patientId", "studyId"] as const) {
        const splitsOf = new Map<string, Set<string>>();
        items.forEach((item, i) => {
          splitsOf.set(item[key], (splitsOf.get(item[key]) ?? new Set()).add(where.get(i) as string));
        });
        for (const set of splitsOf.values()) expect(set.size).toBe(1);
      }
    }
  });

  it("keeps inconsistent ids together: a study listed under two patients joins both", () => {
    const base = randomCatalog(3, 60);
    // Study of patient 1 also appears under patient 2: patients 1 and 2 must share a split.
    const items: CatalogItem[] = [
      ...base,
      {
        ...(base.find((i) => i.patientId === "patient-1") as CatalogItem),
        imageId: "x",
        patientId: "patient-2",
      },
    ];
    const where = splitOf(splitItems(items, { val: 0.2, test: 0.2 }, 1));
    const splitsOfPatients = new Set<string>();
    items.forEach((item, i) => {
      if (item.patientId === "patient-1" || item.patientId === "patient-2")
        splitsOfPatients.add(where.get(i) as string);
    });
    expect(splitsOfPatients.size).toBe(1);
    expect(groupItems(items).some((g) => g.includes(items.length - 1) && g.length > 1)).toBe(true);
  });

  it("stratifies: each class is split close to the requested fractions", () => {
    // One label per patient, so that stratifying groups is stratifying images.
    const items = randomCatalog(7, 1500, true);
    const split = splitItems(items, { val: 0.15, test: 0.15 }, 7);
    for (let label = 0; label < 4; label++) {
      const total = items.filter((i) => i.label === label).length;
      const val = split.val.filter((i) => items[i]?.label === label).length;
      const test = split.test.filter((i) => items[i]?.label === label).length;
      expect(Math.abs(val / total - 0.15)).toBeLessThan(0.03);
      expect(Math.abs(test / total - 0.15)).toBeLessThan(0.03);
    }
  });

  it("is deterministic in its seed", () => {
    const items = randomCatalog(1, 100);
    expect(splitItems(items, { val: 0.2, test: 0.2 }, 5)).toEqual(
      splitItems(items, { val: 0.2, test: 0.2 }, 5),
    );
    expect(splitItems(items, { val: 0.2, test: 0.2 }, 5)).not.toEqual(
      splitItems(items, { val: 0.2, test: 0.2 }, 6),
    );
  });

  it("rejects fractions that leave no training data", () => {
    expect(() => splitItems(randomCatalog(1, 5), { val: 0.5, test: 0.5 }, 0)).toThrow(/sum below 1/);
  });
});
