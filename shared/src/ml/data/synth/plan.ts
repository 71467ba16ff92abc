import { deriveSeed, Rng } from "../../../random.js";
import { allocateCounts } from "../allocate-counts.js";
import type { CatalogItem } from "../catalog.js";
import type { SiteProfile } from "./hospitals.js";
import { ATYPICAL, INDETERMINATE, NEGATIVE, TYPICAL } from "./lesions.js";

/** Share of patients with a second study, and of studies with a second image (as in SIIM). */
const SECOND_STUDY = 0.1;
const SECOND_IMAGE = 0.05;

/** A 12-hex-digit id like the anonymised SIIM ids. */
export function hexId(seed: number, ...labels: readonly (string | number)[]): string {
  const a = deriveSeed(seed, ...labels, "a")
    .toString(16)
    .padStart(8, "0");
  const b = deriveSeed(seed, ...labels, "b")
    .toString(16)
    .padStart(8, "0");
  return (a + b).slice(0, 12);
}

/**
 * The confusable neighbour of a positive class. Label noise only moves between the positive
 * classes, so that masks stay non-empty exactly for non-negative labels.
 */
function confusableClass(label: number, rng: Rng): number {
  if (label === TYPICAL) return INDETERMINATE;
  if (label === ATYPICAL) return INDETERMINATE;
  if (label === INDETERMINATE) return rng.bool(0.6) ? TYPICAL : ATYPICAL;
  return label;
}

/**
 * The catalog of one synthetic hospital: `count` images in patients, studies and images, with
 * classes allocated to studies in the site's prevalence (largest remainder, then shuffled).
 * Deterministic in (seed, profile.id, count); no pixels are made here.
 */
export function planSyntheticSite(profile: SiteProfile, count: number, seed: number): CatalogItem[] {
  const rng = Rng.derive(seed, "plan", profile.id);
  // Structure first: patients -> studies -> images, until `count` images exist.
  const studies: { patient: number; images: number }[] = [];
  let images = 0;
  let patient = 0;
  while (images < count) {
    const studiesOfPatient = rng.bool(SECOND_STUDY) ? 2 : 1;
    for (let s = 0; s < studiesOfPatient && images < count; s++) {
      const n = rng.bool(SECOND_IMAGE) && images + 2 <= count ? 2 : 1;
      studies.push({ patient, images: n });
      images += n;
    }
    patient++;
  }
  const classCounts = allocateCounts(studies.length, profile.prevalence);
  // Recorded labels follow the site's prevalence exactly; label noise then changes what is
  // drawn, so that noise does not shift the class balance.
  const labels: number[] = [];
  classCounts.forEach((c, label) => {
    for (let k = 0; k < c; k++) labels.push(label);
  });
  rng.shuffle(labels);
  const items: CatalogItem[] = [];
  studies.forEach((study, s) => {
    const label = labels[s] ?? NEGATIVE;
    const trueLabel =
      label !== NEGATIVE && rng.bool(profile.labelNoise) ? confusableClass(label, rng) : label;
    const patientSeed = deriveSeed(seed, profile.id, "patient", study.patient);
    const studySeed = deriveSeed(seed, profile.id, "study", s);
    const patientId = hexId(seed, profile.id, "patient", study.patient);
    const studyId = hexId(seed, profile.id, "study", s);
    for (let k = 0; k < study.images; k++) {
      items.push({
        imageId: hexId(seed, profile.id, "image", s, k),
        studyId,
        patientId,
        label,
        site: profile.id,
        source: {
          kind: "synthetic",
          profile,
          trueLabel,
          patientSeed,
          studySeed,
          imageSeed: deriveSeed(seed, profile.id, "image", s, k),
        },
      });
    }
  });
  return items;
}
