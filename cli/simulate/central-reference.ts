import { SITE_PRESETS, type SiteProfile } from "../../shared/src/ml/data/index.js";
import type { SimulationConfig } from "./config.js";

/** The preset whose hospitals the reference site is drawn from: it holds every scanner profile. */
const REFERENCE_PRESET = "5-hospitals";
/** Preferred reference hospitals, in order: a mixed-ward university DR first, a rural CR next. */
const REFERENCE_SITES = ["university", "rural"] as const;
/**
 * Added to the simulation's seed for the reference set's patients, so that they are never the
 * participants' (the generator derives every image from seed and profile).
 */
export const REFERENCE_SEED_OFFSET = 1_000_003;

/** The `centralEvaluation` section of the simulation's coordinator config. */
export interface ReferenceEvaluation {
  readonly data: Record<string, unknown>;
  readonly site: string;
  readonly split: "test";
  readonly backend: string;
}

/**
 * The synthetic reference site that `fl simulate` holds at the coordinator: a hospital whose
 * scanner no participant has (told by the DICOM manufacturer each profile writes), with patients
 * of its own seed, nine tenths of it in the test split. None for a real dataset (its owner knows
 * what a fair reference is) or with `centralEval: false` (`--no-central-eval`).
 */
export function referenceEvaluation(config: SimulationConfig): ReferenceEvaluation | undefined {
  if (!config.centralEval || config.data.kind !== "synthetic") return undefined;
  const participants = SITE_PRESETS[String(config.data.preset)] ?? [];
  const scanners = new Set(participants.map((p) => p.dicom.manufacturer));
  const pool = SITE_PRESETS[REFERENCE_PRESET] ?? [];
  const profile = (id: string) => pool.find((p) => p.id === id) as SiteProfile;
  // With every scanner taken (5 hospitals) the first choice stays, new patients on a known scanner.
  const site =
    REFERENCE_SITES.find((id) => !scanners.has(profile(id).dicom.manufacturer)) ?? REFERENCE_SITES[0];
  return {
    data: {
      kind: "synthetic",
      preset: REFERENCE_PRESET,
      imagesPerSite: config.imagesPerSite,
      imageSize: config.imageSize,
      seed: config.seed + REFERENCE_SEED_OFFSET,
      splits: { val: 0.05, test: 0.9 },
    },
    site,
    split: "test",
    backend: config.backend,
  };
}
