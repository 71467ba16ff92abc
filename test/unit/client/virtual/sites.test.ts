import { describe, expect, it } from "vitest";
import { virtualSiteIds, virtualSites } from "../../../../client/src/virtual/sites.js";

const data = { kind: "synthetic", preset: "3-hospitals", imagesPerSite: 24, imageSize: 32, seed: 7 };

describe("virtual sites", () => {
  it("numbers hospitals so that sorted ids are in number order", () => {
    expect(virtualSiteIds(3)).toEqual(["vh001", "vh002", "vh003"]);
    const many = virtualSiteIds(1200);
    expect(many[0]).toBe("vh0001");
    expect(many[1199]).toBe("vh1200");
    expect([...many].sort()).toEqual(many);
  });

  it("cycles the preset's hospitals, with a new seed for each pass through them", () => {
    const sites = virtualSites(7, data, ["a", "b", "c"]);
    expect(sites.map((s) => [s.siteId, s.baseSite, s.data.seed])).toEqual([
      ["vh001", "a", 7],
      ["vh002", "b", 7],
      ["vh003", "c", 7],
      ["vh004", "a", 8],
      ["vh005", "b", 8],
      ["vh006", "c", 8],
      ["vh007", "a", 9],
    ]);
    // Everything else of the data config is kept.
    expect(sites[6]?.data).toEqual({ ...data, seed: 9 });
  });

  it("refuses data that is not a synthetic preset, and a count that is no positive integer", () => {
    expect(() => virtualSites(5, { kind: "siim", root: "/x" }, ["a"])).toThrow(/synthetic preset.*"siim"/);
    expect(() => virtualSiteIds(0)).toThrow(/positive integer/);
    expect(() => virtualSiteIds(2.5)).toThrow(/positive integer/);
  });
});
