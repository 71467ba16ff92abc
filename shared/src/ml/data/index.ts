// Public API of the data layer: configs, site splits, the synthetic generator, loaders,
// partitioners and inspection. Explicit named exports only.
export type { BadItem, BadItemKind, BadItemPolicy } from "./bad-items.js";
export { BadItemLog } from "./bad-items.js";
export type { CatalogItem, FileSource, SyntheticSource } from "./catalog.js";
export { groupItems } from "./catalog.js";
export type {
  DataConfig,
  DataPlan,
  FolderDataConfig,
  LoadOptions,
  ResolvedDataConfig,
  SiimDataConfig,
  SyntheticDataConfig,
} from "./config.js";
export {
  DataConfigSchema,
  listSites,
  loadSiteSplits,
  planData,
  resolveDataConfig,
  siteSplitIndices,
  summarizeData,
} from "./config.js";
export type { DecodedDicom, DicomHeader, VoiLut, VoiWindow } from "./dicom/decode.js";
export { applyWindow, decodeDicom, dicomToDisplay, readDicomHeader } from "./dicom/decode.js";
export { supportedTransferSyntaxes, TRANSFER_SYNTAXES } from "./dicom/transfer-syntax.js";
export type { ResizeMode } from "./image/boxes.js";
export { rasterizeBoxes, squareMapping } from "./image/boxes.js";
export type { GreyImage } from "./image/decode.js";
export { decodeImage } from "./image/decode.js";
export { resizeToSquare } from "./image/resize.js";
export { ImageSetBuilder, selectImages } from "./image-set.js";
export { parseCsv } from "./loaders/csv.js";
export { parseClassName } from "./loaders/labels.js";
export { loadPreprocessed, preprocessKey } from "./loaders/preprocess.js";
export { materialize } from "./materialize.js";
export type { Partition, PartitionSpec } from "./partition.js";
export { partitionItems, partitionSiteIds } from "./partition.js";
export { allocateCounts, deriveSeed, Rng } from "./rng.js";
export type { SplitFractions, SplitIndices, SplitName } from "./split.js";
export { DEFAULT_SPLIT, SPLIT_NAMES, splitItems } from "./split.js";
export type { ClassCounts, PartitionSummary, SiteSummary } from "./summary.js";
export { formatPartitionSummary, summarizePartition } from "./summary.js";
export type { SyntheticImage, SyntheticImageRequest } from "./synth/generator.js";
export { generateImage } from "./synth/generator.js";
export type { DicomStyle, HospitalProfile } from "./synth/hospitals.js";
export { HOSPITAL_PRESETS, hospitalPreset, POOLED_PREVALENCE, PRESET_NAMES } from "./synth/hospitals.js";
export { planSyntheticSite } from "./synth/plan.js";
export type { Box, ImageSet, SiteSplits } from "./types.js";
export { CLASS_KEYS, CLASS_NAMES, NUM_CLASSES } from "./types.js";
