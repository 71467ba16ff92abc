import type { SiteInfo } from "../../../shared/src/fl/messages.js";
import { type DataConfig, summarizeData } from "../../../shared/src/ml/data/index.js";
import type { VirtualSite } from "./sites.js";

/**
 * What each virtual hospital declares at join, from its data's catalog alone (no pixels): the
 * counts its worker's trainer would report after rendering the images. Hospitals that share a
 * seed share one catalog, so N hospitals of a P-site preset plan ⌈N/P⌉ catalogs.
 */
export async function virtualSiteInfos(
  sites: readonly VirtualSite[],
  backend: string,
  clientVersion: string,
): Promise<Map<string, SiteInfo>> {
  const summaries = new Map<string, ReturnType<typeof summarizeData>>();
  const infos = new Map<string, SiteInfo>();
  for (const site of sites) {
    const key = JSON.stringify(site.data);
    let summary = summaries.get(key);
    if (!summary) {
      summary = summarizeData(site.data as DataConfig);
      summaries.set(key, summary);
    }
    const of = (await summary).sites.find((s) => s.siteId === site.baseSite);
    if (!of) throw new Error(`the synthetic preset has no hospital "${site.baseSite}" for ${site.siteId}`);
    infos.set(site.siteId, {
      trainClassCounts: [...of.splits.train.perClass],
      trainUnlabelledCount: of.splits.train.unlabelled,
      validationCount: of.splits.val.total,
      testCount: of.splits.test.total,
      backend,
      clientVersion,
    });
  }
  return infos;
}
