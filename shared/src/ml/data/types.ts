export { CLASS_KEYS, CLASS_NAMES, NUM_CLASSES } from "../../fl/classes.js";

/**
 * A set of same-sized grayscale images, row-major N x H x W with H = W = `size`, values
 * normalised to [0, 1]. Plain typed arrays so that sets cross process boundaries cheaply.
 */
export interface ImageSet {
  readonly size: number;
  readonly count: number;
  readonly images: Float32Array;
  /** Class index per image; -1 means unlabelled (usable by self-supervision only). */
  readonly labels: Int32Array;
  /** Opacity mask per image (1 = opacity), same layout as `images`. */
  readonly masks: Uint8Array;
  readonly imageIds: readonly string[];
  readonly studyIds: readonly string[];
  readonly patientIds: readonly string[];
}

/** One hospital's data, split so that no study or patient appears in two splits. */
export interface SiteSplits {
  readonly siteId: string;
  readonly train: ImageSet;
  readonly val: ImageSet;
  readonly test: ImageSet;
}

/** An axis-aligned opacity box in pixels of the image it belongs to (SIIM: x, y, width, height). */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}
