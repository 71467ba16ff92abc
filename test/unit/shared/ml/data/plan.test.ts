import { describe, expect, it } from "vitest";
import { POOLED_PREVALENCE, SITE_PRESETS } from "../../../../../shared/src/ml/data/synth/hospitals.js";
import { planSyntheticSite } from "../../../../../shared/src/ml/data/synth/plan.js";

describe("hospital presets", () => {
  it("average to the pooled SIIM prevalence 28/47/17/8 over equally sized sites", () => {
    for (const name of ["3-hospitals", "5-hospitals", "4-iid", "1-central"]) {
      const sites = SITE_PRESETS[name] ?? [];
      for (let c = 0; c < 4; c++) {
        const mean = sites.reduce((s, p) => s + (p.prevalence[c] as number), 0) / sites.length;
        expect(mean).toBeCloseTo(POOLED_PREVALENCE[c] as number, 6);
      }
      for (const site of sites) expect(site.prevalence.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9);
    }
  });

  it("skew the class mix per site in the non-IID presets", () => {
    const typical = (SITE_PRESETS["5-hospitals"] ?? []).map((p) => p.prevalence[1]);
    expect(Math.max(...(typical as number[])) - Math.min(...(typical as number[]))).toBeGreaterThan(0.2);
    const ids = (SITE_PRESETS["5-hospitals"] ?? []).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("planSyntheticSite", () => {
  const profile = (SITE_PRESETS["3-hospitals"] ?? [])[0];
  if (!profile) throw new Error("preset missing");

  it("makes exactly the requested number of images, deterministically", () => {
    const a = planSyntheticSite(profile, 137, 4);
    const b = planSyntheticSite(profile, 137, 4);
    expect(a.length).toBe(137);
    expect(a.map((i) => i.imageId)).toEqual(b.map((i) => i.imageId));
    expect(a.map((i) => i.label)).toEqual(b.map((i) => i.label));
    expect(planSyntheticSite(profile, 137, 5).map((i) => i.imageId)).not.toEqual(a.map((i) => i.imageId));
  });

  it("allocates study labels in the site's prevalence (largest remainder)", () => {
    const items = planSyntheticSite(profile, 400, 1);
    const studies = new Map<string, number>();
    for (const item of items) studies.set(item.studyId, item.label);
    const counts = [0, 0, 0, 0];
    for (const label of studies.values()) counts[label] = (counts[label] ?? 0) + 1;
    counts.forEach((n, c) => {
      expect(Math.abs(n - studies.size * (profile.prevalence[c] as number))).toBeLessThanOrEqual(1);
    });
  });

  it("has unique image ids, patients with several studies and studies with several images", () => {
    const items = planSyntheticSite(profile, 600, 2);
    expect(new Set(items.map((i) => i.imageId)).size).toBe(600);
    const studiesPerPatient = new Map<string, Set<string>>();
    const imagesPerStudy = new Map<string, number>();
    for (const item of items) {
      studiesPerPatient.set(
        item.patientId,
        (studiesPerPatient.get(item.patientId) ?? new Set()).add(item.studyId),
      );
      imagesPerStudy.set(item.studyId, (imagesPerStudy.get(item.studyId) ?? 0) + 1);
    }
    expect([...studiesPerPatient.values()].some((s) => s.size > 1)).toBe(true);
    expect([...imagesPerStudy.values()].some((n) => n > 1)).toBe(true);
    // Images of one study share the label and the drawn findings.
    const byStudy = new Map<string, { label: number; studySeed: number }>();
    for (const item of items) {
      const source = item.source;
      if (source.kind !== "synthetic") throw new Error("expected synthetic");
      const seen = byStudy.get(item.studyId);
      if (seen) expect(seen).toEqual({ label: item.label, studySeed: source.studySeed });
      else byStudy.set(item.studyId, { label: item.label, studySeed: source.studySeed });
    }
  });

  it("applies label noise only between positive classes, at about the site's rate", () => {
    const items = planSyntheticSite({ ...profile, labelNoise: 0.3 }, 2000, 3);
    let positives = 0;
    let flipped = 0;
    for (const item of items) {
      if (item.source.kind !== "synthetic") continue;
      if (item.label === 0) expect(item.source.trueLabel).toBe(0);
      else {
        expect(item.source.trueLabel).not.toBe(0);
        positives++;
        if (item.source.trueLabel !== item.label) flipped++;
      }
    }
    expect(flipped / positives).toBeGreaterThan(0.24);
    expect(flipped / positives).toBeLessThan(0.36);
  });
});
