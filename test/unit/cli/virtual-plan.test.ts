import { describe, expect, it } from "vitest";
import { cohortSettings } from "../../../cli/simulate/virtual-plan.js";

describe("cohortSettings", () => {
  it("keeps the process-per-hospital defaults: everyone trains, the loss of one is survived", () => {
    expect(cohortSettings({ sites: 3, virtual: false, secureAggregation: false })).toEqual({
      fraction: 1,
      minSites: 2,
      minAvailableSites: 3,
    });
    expect(cohortSettings({ sites: 3, virtual: false, secureAggregation: true }).minSites).toBe(3);
    expect(cohortSettings({ sites: 1, virtual: false, secureAggregation: false }).minSites).toBe(1);
  });

  it("samples a cohort of about 20 of many virtual hospitals, all of whom must join first", () => {
    const settings = cohortSettings({ sites: 500, virtual: true, secureAggregation: false });
    expect(settings).toEqual({ fraction: 20 / 500, minSites: 19, minAvailableSites: 500 });
    // The coordinator's sampler trains ceil(fraction x available) sites.
    expect(Math.ceil(settings.fraction * 500)).toBe(20);
    expect(cohortSettings({ sites: 12, virtual: true, secureAggregation: false }).fraction).toBe(1);
  });

  it("takes an explicit fraction and minSites, capping minSites at the cohort", () => {
    expect(cohortSettings({ sites: 500, virtual: true, fraction: 0.1, secureAggregation: false })).toEqual({
      fraction: 0.1,
      minSites: 49,
      minAvailableSites: 500,
    });
    expect(
      cohortSettings({ sites: 100, virtual: true, fraction: 0.05, minSites: 80, secureAggregation: false })
        .minSites,
    ).toBe(5);
  });
});
