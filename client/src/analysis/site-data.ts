import { BadItemLog } from "../../../shared/src/ml/data/bad-items.js";
import type { CatalogItem, SyntheticSource } from "../../../shared/src/ml/data/catalog.js";
import { type DataPlan, planData, siteSplitIndices } from "../../../shared/src/ml/data/config.js";
import type { DataConfig } from "../../../shared/src/ml/data/config-schema.js";
import { type MaterializeOptions, materialize } from "../../../shared/src/ml/data/materialize.js";
import {
  type AcquisitionOverride,
  overrideAcquisition,
} from "../../../shared/src/ml/data/synth/acquisition.js";
import type { SiteProfile } from "../../../shared/src/ml/data/synth/hospitals.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";

/** One hospital's held-out images as its client evaluates them, and how to re-render them. */
export interface SiteData {
  readonly siteId: string;
  /** The test split, as the site's final evaluation scores it. */
  readonly test: ImageSet;
  /** The validation split (used only by the site probe, next to the test split). */
  readonly val: ImageSet;
  /** The site's synthetic profile (undefined for real images: markers cannot be changed). */
  readonly profile?: SiteProfile;
  /** Renders the test split again with the override (synthetic data only). */
  rerender(override: AcquisitionOverride): Promise<ImageSet>;
}

/**
 * Loads the val and test splits of each site exactly as `loadSiteSplits` makes them (same plan,
 * split and materialise options), keeping the catalog items so that synthetic images can be
 * rendered again with markers changed. Sites with the same data config share one plan.
 */
export async function loadSiteData(
  sites: ReadonlyArray<{ siteId: string; data: DataConfig }>,
  log?: (line: string) => void,
): Promise<SiteData[]> {
  const plans = new Map<string, Promise<DataPlan>>();
  const out: SiteData[] = [];
  for (const { siteId, data } of sites) {
    const key = JSON.stringify(data);
    let plan = plans.get(key);
    if (!plan) {
      plan = planData(data, log ? { log } : {});
      plans.set(key, plan);
    }
    const resolved = await plan;
    const config = resolved.config;
    const options: MaterializeOptions = {
      size: config.imageSize,
      maskSource: config.kind === "synthetic" ? config.maskSource : "boxes",
      resize: config.kind === "synthetic" ? "stretch" : config.resize,
      badItems: new BadItemLog("skip"),
      ...(config.kind !== "synthetic" ? { maxImageBytes: config.maxImageBytes } : {}),
    };
    const split = siteSplitIndices(resolved, siteId);
    const pick = (list: readonly number[]): CatalogItem[] =>
      list.map((i) => resolved.items[i] as CatalogItem);
    const testItems = pick(split.test);
    const first = testItems[0]?.source;
    const profile = first?.kind === "synthetic" ? first.profile : undefined;
    out.push({
      siteId,
      test: await materialize(testItems, options),
      val: await materialize(pick(split.val), options),
      ...(profile ? { profile } : {}),
      rerender: (override) =>
        materialize(
          testItems.map((item) =>
            item.source.kind === "synthetic"
              ? {
                  ...item,
                  source: {
                    ...item.source,
                    profile: overrideAcquisition(item.source.profile, override),
                  } satisfies SyntheticSource,
                }
              : item,
          ),
          options,
        ),
    });
  }
  return out;
}
