import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cachedSiteSplits } from "../../../../client/src/virtual/site-cache.js";
import { virtualSiteInfos } from "../../../../client/src/virtual/site-info.js";
import { virtualSites } from "../../../../client/src/virtual/sites.js";
import { type DataConfig, listSites, loadSiteSplits } from "../../../../shared/src/ml/data/index.js";

const data = { kind: "synthetic", preset: "3-hospitals", imagesPerSite: 12, imageSize: 16, seed: 3 };
const dir = mkdtempSync(join(tmpdir(), "virtual-site-data-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a virtual hospital's data", () => {
  it("declares at join the counts its trainer's images have, without rendering them", async () => {
    const preset = await listSites(data as DataConfig);
    const sites = virtualSites(4, data, preset);
    const infos = await virtualSiteInfos(sites, "cpu", "0.1.0");
    for (const site of [sites[0], sites[3]]) {
      if (!site) throw new Error("missing site");
      const splits = await loadSiteSplits(site.data as DataConfig, site.baseSite);
      const counts = [0, 0, 0, 0];
      for (const label of splits.train.labels) counts[label] = (counts[label] ?? 0) + 1;
      expect(infos.get(site.siteId)).toMatchObject({
        trainClassCounts: counts,
        validationCount: splits.val.count,
        testCount: splits.test.count,
        backend: "cpu",
      });
    }
    // Hospital 4 shares hospital 1's profile but not its patients.
    const first = await loadSiteSplits(sites[0]?.data as DataConfig, sites[0]?.baseSite as string);
    const fourth = await loadSiteSplits(sites[3]?.data as DataConfig, sites[3]?.baseSite as string);
    expect(fourth.train.imageIds).not.toEqual(first.train.imageIds);
  });

  it("is rendered once, then read back from disk unchanged", async () => {
    const preset = await listSites(data as DataConfig);
    const [site] = virtualSites(1, data, preset);
    if (!site) throw new Error("missing site");
    let renders = 0;
    const render = () => {
      renders++;
      return loadSiteSplits(site.data as DataConfig, site.baseSite);
    };
    const first = await cachedSiteSplits(dir, site, render);
    const again = await cachedSiteSplits(dir, site, render);
    expect(renders).toBe(1);
    expect(again.train.images).toEqual(first.train.images);
    expect(again.test.labels).toEqual(first.test.labels);
    expect(readdirSync(dir)).toHaveLength(1);
    // Another data config is another file, never the stale one.
    await cachedSiteSplits(dir, { ...site, data: { ...site.data, seed: 4 } }, render);
    expect(renders).toBe(2);
  });
});
