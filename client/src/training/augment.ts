import type * as tfc from "@tensorflow/tfjs-core";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import type { Rng } from "../../../shared/src/random.js";

type Tf = LoadedBackend["tf"];

/**
 * Chest-X-ray-safe augmentations (MoCo-CXR style). Geometric changes are mild (a chest film is
 * never upside down, and anatomy is not mirror-symmetric: the heart is on the left), photometric
 * ones model exposure, detector noise and focus differences between sites.
 */
export interface AugmentOptions {
  /** Range of the fraction of the image area a random resized crop keeps; [1, 1] for no crop. */
  readonly cropScale: readonly [number, number];
  /** Range of the crop's width/height ratio (sampled log-uniformly). */
  readonly cropAspect: readonly [number, number];
  /** Rotation uniform in [-max, max] degrees about the crop's centre. */
  readonly maxRotationDegrees: number;
  /** Mirror left-right with probability 1/2. Off by default: anatomy is not mirror-symmetric. */
  readonly horizontalFlip: boolean;
  /** Additive brightness offset uniform in [-b, b] (pixel values are in [0, 1]). */
  readonly brightness: number;
  /** Contrast factor uniform in [1 - c, 1 + c], about the image's mean. */
  readonly contrast: number;
  /** Gaussian noise whose standard deviation is uniform in [0, max]. */
  readonly maxNoiseStd: number;
  /** Probability of a Gaussian blur. */
  readonly blurProbability: number;
  /** Range of the blur's sigma in pixels (at most 3). */
  readonly blurSigma: readonly [number, number];
}

/** The ranges of the brief: crop 0.6-1, rotation ±10°, brightness/contrast, noise, blur; no flip. */
export const DEFAULT_AUGMENT_OPTIONS: AugmentOptions = {
  cropScale: [0.6, 1],
  cropAspect: [3 / 4, 4 / 3],
  maxRotationDegrees: 10,
  horizontalFlip: false,
  brightness: 0.1,
  contrast: 0.2,
  maxNoiseStd: 0.03,
  blurProbability: 0.5,
  blurSigma: [0.1, 1.5],
};

/** Milder settings for supervised training, where the masks must stay meaningful. */
export const LIGHT_AUGMENT_OPTIONS: AugmentOptions = {
  cropScale: [0.8, 1],
  cropAspect: [0.9, 1 / 0.9],
  maxRotationDegrees: 7,
  horizontalFlip: false,
  brightness: 0.05,
  contrast: 0.1,
  maxNoiseStd: 0.01,
  blurProbability: 0,
  blurSigma: [0.1, 1],
};

/** One image's sampled augmentation. */
export interface AugmentParams {
  /** Crop width and height as fractions of the image side. */
  readonly cropWidth: number;
  readonly cropHeight: number;
  /** Crop centre in pixel-index coordinates (the image spans -0.5 .. size - 0.5). */
  readonly centerX: number;
  readonly centerY: number;
  readonly rotation: number;
  readonly flip: boolean;
  readonly brightness: number;
  readonly contrast: number;
  readonly noiseStd: number;
  /** 0 for no blur. */
  readonly blurSigma: number;
}

const MAX_BLUR_SIGMA = 3;

function checkOptions(options: AugmentOptions): void {
  const problems: string[] = [];
  const [sMin, sMax] = options.cropScale;
  if (!(sMin > 0 && sMin <= sMax && sMax <= 1))
    problems.push(`cropScale ${options.cropScale} must satisfy 0 < min <= max <= 1`);
  const [aMin, aMax] = options.cropAspect;
  if (!(aMin > 0 && aMin <= aMax))
    problems.push(`cropAspect ${options.cropAspect} must satisfy 0 < min <= max`);
  if (!(options.maxRotationDegrees >= 0 && options.maxRotationDegrees <= 45))
    problems.push("maxRotationDegrees must be in [0, 45]");
  if (!(options.contrast >= 0 && options.contrast < 1)) problems.push("contrast must be in [0, 1)");
  if (!(options.brightness >= 0) || !(options.maxNoiseStd >= 0))
    problems.push("brightness and maxNoiseStd must be >= 0");
  if (!(options.blurProbability >= 0 && options.blurProbability <= 1))
    problems.push("blurProbability must be in [0, 1]");
  const [bMin, bMax] = options.blurSigma;
  if (!(bMin >= 0 && bMin <= bMax && bMax <= MAX_BLUR_SIGMA))
    problems.push(`blurSigma must satisfy 0 <= min <= max <= ${MAX_BLUR_SIGMA}`);
  if (problems.length > 0)
    throw new FlError(ErrorCode.InvalidConfig, `invalid augmentation options: ${problems.join("; ")}`);
}

/** Draws per-image parameters from `rng`. Pure and deterministic for a given rng state. */
export function sampleAugmentParams(
  rng: Rng,
  count: number,
  size: number,
  options: AugmentOptions = DEFAULT_AUGMENT_OPTIONS,
): AugmentParams[] {
  checkOptions(options);
  const uniform = (min: number, max: number) => min + (max - min) * rng.next();
  return Array.from({ length: count }, () => {
    const scale = uniform(options.cropScale[0], options.cropScale[1]);
    const aspect = Math.exp(uniform(Math.log(options.cropAspect[0]), Math.log(options.cropAspect[1])));
    const cropWidth = Math.min(1, Math.sqrt(scale * aspect));
    const cropHeight = Math.min(1, Math.sqrt(scale / aspect));
    const halfW = (cropWidth * size) / 2;
    const halfH = (cropHeight * size) / 2;
    const centerX = uniform(-0.5 + halfW, size - 0.5 - halfW);
    const centerY = uniform(-0.5 + halfH, size - 0.5 - halfH);
    const rotation = (uniform(-1, 1) * options.maxRotationDegrees * Math.PI) / 180;
    const flip = options.horizontalFlip && rng.next() < 0.5;
    const brightness = uniform(-options.brightness, options.brightness);
    const contrast = uniform(1 - options.contrast, 1 + options.contrast);
    const noiseStd = uniform(0, options.maxNoiseStd);
    const blur = rng.next() < options.blurProbability;
    const sigma = uniform(options.blurSigma[0], options.blurSigma[1]);
    return {
      cropWidth,
      cropHeight,
      centerX,
      centerY,
      rotation,
      flip,
      brightness,
      contrast,
      noiseStd,
      blurSigma: blur ? sigma : 0,
    };
  });
}

/**
 * The row of `tf.image.transform` for one image: it maps each output pixel (x, y) to the input
 * point crop centre + R(rotation) * diag(±cropWidth, cropHeight) * ((x, y) - image centre), so
 * the crop (rotated about its centre, mirrored if `flip`) is resampled to the full output size.
 */
export function affineRow(params: AugmentParams, size: number): number[] {
  const c = (size - 1) / 2;
  const cos = Math.cos(params.rotation);
  const sin = Math.sin(params.rotation);
  const sx = params.flip ? -params.cropWidth : params.cropWidth;
  const sy = params.cropHeight;
  const a0 = cos * sx;
  const a1 = -sin * sy;
  const b0 = sin * sx;
  const b1 = cos * sy;
  return [a0, a1, params.centerX - (a0 + a1) * c, b0, b1, params.centerY - (b0 + b1) * c, 0, 0];
}

function isIdentityGeometry(params: AugmentParams, size: number): boolean {
  const c = (size - 1) / 2;
  return (
    params.cropWidth === 1 &&
    params.cropHeight === 1 &&
    params.rotation === 0 &&
    !params.flip &&
    params.centerX === c &&
    params.centerY === c
  );
}

/** Normalised 1-D Gaussian taps of radius 3 (a delta for sigma 0). */
export function gaussianTaps(sigma: number): number[] {
  const radius = 3;
  if (sigma <= 0) return Array.from({ length: 2 * radius + 1 }, (_, i) => (i === radius ? 1 : 0));
  const taps = Array.from({ length: 2 * radius + 1 }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
  );
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
}

/**
 * Applies per-image parameters to a batch [n, size, size, 1] with values in [0, 1]: one affine
 * resampling (bilinear, edges extended) for crop, rotation and flip; the same geometry to the
 * masks (then thresholded back to 0/1); then on the images only a Gaussian blur (separable,
 * per image, reflected borders), contrast about the image mean, brightness, Gaussian noise
 * (seeded by `noiseSeed`) and a clip to [0, 1]. Returns new tensors; the inputs are kept.
 */
export function applyAugmentation(
  tf: Tf,
  images: tfc.Tensor4D,
  params: readonly AugmentParams[],
  options: { noiseSeed: number; masks?: tfc.Tensor4D },
): { images: tfc.Tensor4D; masks?: tfc.Tensor4D } {
  const [n, size] = images.shape;
  if (params.length !== n || images.shape[2] !== size || images.shape[3] !== 1) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `augmentation needs [n, size, size, 1] images and one parameter set per image (got ${images.shape} and ${params.length})`,
    );
  }
  return tf.tidy(() => {
    let x: tfc.Tensor4D = images;
    let masks = options.masks;
    if (!params.every((p) => isIdentityGeometry(p, size))) {
      const rows = tf.tensor2d(
        params.flatMap((p) => affineRow(p, size)),
        [n, 8],
      );
      x = tf.image.transform(x, rows, "bilinear", "nearest");
      if (masks) {
        const moved = tf.image.transform(masks, rows, "bilinear", "nearest");
        masks = tf.cast(tf.greaterEqual(moved, 0.5), "float32") as tfc.Tensor4D;
      }
    }
    if (params.some((p) => p.blurSigma > 0)) x = blur(tf, x, params);
    const column = (values: number[]) => tf.tensor4d(values, [n, 1, 1, 1]);
    if (params.some((p) => p.contrast !== 1 || p.brightness !== 0)) {
      const mean = tf.mean(x, [1, 2, 3], true);
      const contrast = column(params.map((p) => p.contrast));
      x = tf.add(tf.add(tf.mul(tf.sub(x, mean), contrast), mean), column(params.map((p) => p.brightness)));
    }
    if (params.some((p) => p.noiseStd > 0)) {
      const noise = tf.randomNormal([n, size, size, 1], 0, 1, "float32", options.noiseSeed);
      x = tf.add(x, tf.mul(noise, column(params.map((p) => p.noiseStd))));
    }
    x = tf.clipByValue(x, 0, 1);
    return masks ? { images: x, masks } : { images: x };
  });
}

/** Per-image separable Gaussian blur: images become channels of one depthwise convolution. */
function blur(tf: Tf, x: tfc.Tensor4D, params: readonly AugmentParams[]): tfc.Tensor4D {
  const n = x.shape[0];
  const taps = params.map((p) => gaussianTaps(p.blurSigma));
  const length = taps[0]?.length ?? 1;
  const radius = (length - 1) / 2;
  const kernel = new Float32Array(length * n);
  taps.forEach((t, image) => {
    t.forEach((v, i) => {
      kernel[i * n + image] = v;
    });
  });
  // [n, size, size, 1] -> [1, size, size, n]: one image per channel.
  const asChannels = tf.transpose(x, [3, 1, 2, 0]);
  const padded = tf.mirrorPad(
    asChannels,
    [
      [0, 0],
      [radius, radius],
      [radius, radius],
      [0, 0],
    ],
    "reflect",
  );
  const vertical = tf.depthwiseConv2d(padded, tf.tensor4d(kernel, [length, 1, n, 1]), 1, "valid");
  const both = tf.depthwiseConv2d(vertical, tf.tensor4d(kernel, [1, length, n, 1]), 1, "valid");
  return tf.transpose(both, [3, 1, 2, 0]) as tfc.Tensor4D;
}

/** Samples parameters from `rng` and applies them (see `applyAugmentation`). */
export function augmentBatch(
  tf: Tf,
  images: tfc.Tensor4D,
  rng: Rng,
  options: { augment?: AugmentOptions; masks?: tfc.Tensor4D } = {},
): { images: tfc.Tensor4D; masks?: tfc.Tensor4D } {
  const params = sampleAugmentParams(rng, images.shape[0], images.shape[1], options.augment);
  const noiseSeed = Math.floor(rng.next() * 2 ** 31);
  return applyAugmentation(
    tf,
    images,
    params,
    options.masks ? { noiseSeed, masks: options.masks } : { noiseSeed },
  );
}
