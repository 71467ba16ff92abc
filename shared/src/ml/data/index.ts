// Public API of the data layer (docs/data.md): data configs, one site's splits and the synthetic
// generator, with the types their signatures use. Explicit named exports only. Modules inside the
// layer, and its own tests, import the implementation files directly; re-exports that nothing
// imported through this index were removed (found with knip), so this list is what other layers
// depend on.
export type { BadItemPolicy } from "./bad-items.js";
export { type LoadOptions, listSites, loadSiteSplits, summarizeData } from "./config.js";
export {
  type DataConfig,
  DataConfigSchema,
  type ResolvedDataConfig,
  resolveDataConfig,
} from "./config-schema.js";
export { formatPartitionSummary, type PartitionSummary } from "./summary.js";
export { generateImage, type SyntheticImage, type SyntheticImageRequest } from "./synth/generator.js";
export { PRESET_NAMES, SITE_PRESETS, type SiteProfile } from "./synth/hospitals.js";
export { CLASS_KEYS, type ImageSet, NUM_CLASSES, type SiteSplits } from "./types.js";
