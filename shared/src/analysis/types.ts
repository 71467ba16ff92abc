/**
 * What `fl analyse` writes to `<run>/analysis/analysis.json` and `fl report` reads: saliency with
 * its sanity checks, and the shortcut and site tests. CONTRACT (session 2026-12-02).
 * Paths are relative to the analysis folder. Every section is optional: a section that could not
 * be computed (no masks, one site, no markers) carries `skipped` with the reason instead.
 */
export interface AnalysisReport {
  readonly version: 1;
  readonly createdAt: string;
  /** The model analysed: the run's final (or last committed) checkpoint. */
  readonly model: { readonly version: number; readonly sha256: string; readonly architecture: string };
  readonly saliency?: SaliencySection | Skipped;
  readonly shortcuts?: ShortcutSection | Skipped;
  readonly disparities?: DisparitySection | Skipped;
}

export interface Skipped {
  readonly skipped: string;
}

export interface SaliencySection {
  readonly method: "grad-cam";
  /** The layer whose activations are weighted (for example "conv2d_3" or "decoder.block1"). */
  readonly layer: string;
  /** Overlays: one per (site, class), each a PNG of the image with its Grad-CAM heat map. */
  readonly gallery: ReadonlyArray<{
    readonly site: string;
    /** Class key (CLASS_KEYS) the map explains. */
    readonly classKey: string;
    readonly trueClassKey: string;
    readonly predictedClassKey: string;
    readonly png: string;
    /** Present for segmentation models: the decoder's map for the same image. */
    readonly decoderPng?: string;
  }>;
  /** Adebayo et al. 2018 cascading randomisation: Spearman ρ between the maps before and after. */
  readonly sanity: ReadonlyArray<{
    /** Layers re-initialised so far, from the output backwards. */
    readonly randomisedUpTo: string;
    /** Mean over the images of Spearman's ρ between the trained and the randomised map. */
    readonly meanSpearman: number;
    readonly images: number;
  }>;
  /** Verdict of the sanity check, plainly: do the maps depend on the learned weights? */
  readonly sanityPassed: boolean;
  /** Share of saliency mass inside the opacity boxes, and the pointing-game hit rate, by class. */
  readonly pointing?: ReadonlyArray<{
    readonly classKey: string;
    readonly images: number;
    readonly massInside: number;
    /** Share of the mask's area in the image: what a uniform map would score. */
    readonly chance: number;
    readonly hitRate: number;
  }>;
}

export interface ShortcutSection {
  /** Test accuracy and macro-F1 per site: as rendered, markers removed, markers swapped to another site's. */
  readonly markers: ReadonlyArray<{
    readonly site: string;
    readonly condition: "as-is" | "removed" | "swapped";
    /** For "swapped", the site whose marker, corner and border were drawn. */
    readonly from?: string;
    readonly images: number;
    readonly accuracy: number;
    readonly macroF1: number;
  }>;
  /** A linear probe that predicts the site from the encoder's features (held-out accuracy). */
  readonly siteProbe: {
    readonly features: number;
    readonly trainImages: number;
    readonly testImages: number;
    readonly accuracy: number;
    /** Majority-site share of the probe's test set: what predicting one site would score. */
    readonly chance: number;
  };
}

export interface DisparitySection {
  readonly metric: "macroF1";
  readonly best: { readonly site: string; readonly value: number };
  readonly worst: { readonly site: string; readonly value: number };
  /** Per class, the F1 at each site, and which classes are hardest pooled. */
  readonly perClass: ReadonlyArray<{
    readonly classKey: string;
    readonly bySite: Readonly<Record<string, number>>;
    readonly pooled: number;
  }>;
  readonly hardestClasses: readonly string[];
}
