import { describe, expect, it } from "vitest";
import { sampleSites } from "../../../coordinator/src/sampling.js";

const sites = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
const options = { fraction: 0.3, minSites: 2, seed: 1, round: 1, attempt: 1 };

describe("sampleSites", () => {
  it("samples max(minSites, ⌈fraction × available⌉), capped by what is available", () => {
    expect(sampleSites(sites, options)).toHaveLength(3);
    expect(sampleSites(sites, { ...options, fraction: 0.1 })).toHaveLength(2);
    expect(sampleSites(sites.slice(0, 2), { ...options, fraction: 1 })).toHaveLength(2);
    expect(sampleSites(sites.slice(0, 1), options)).toEqual([]);
  });

  it("is reproducible from (seed, round, attempt), sorted, and independent of connection order", () => {
    const sample = sampleSites(sites, options);
    expect(sampleSites([...sites].reverse(), options)).toEqual(sample);
    expect([...sample].sort()).toEqual(sample);
    const draws = new Set(
      [1, 2, 3, 4, 5, 6].map((attempt) => sampleSites(sites, { ...options, attempt }).join(",")),
    );
    expect(draws.size).toBeGreaterThan(1);
  });
});
