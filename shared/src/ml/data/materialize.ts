import { ErrorCode, FlError, isFlError } from "../../errors.js";
import type { BadItemLog } from "./bad-items.js";
import type { CatalogItem, FileSource, SyntheticSource } from "./catalog.js";
import { type ResizeMode, rasterizeBoxes, squareMapping } from "./image/boxes.js";
import { ImageSetBuilder } from "./image-set.js";
import { boxProblem } from "./loaders/labels.js";
import { loadPreprocessed } from "./loaders/preprocess.js";
import { generateImage } from "./synth/generator.js";
import type { ImageSet } from "./types.js";

export interface MaterializeOptions {
  /** Side of the output images. */
  readonly size: number;
  /** Synthetic items: masks from boxes (like real data) or exact lesion outlines. */
  readonly maskSource: "boxes" | "lesions";
  readonly resize: ResizeMode;
  readonly badItems: BadItemLog;
  /** Preprocessed-image cache for file items. */
  readonly cacheDir?: string;
  /** Bound on one decoded file image (default DEFAULT_MAX_IMAGE_BYTES). */
  readonly maxImageBytes?: number;
  readonly log?: (line: string) => void;
}

/** Renders (synthetic) or loads (files) the given items into one ImageSet, skipping bad ones. */
export async function materialize(
  items: readonly CatalogItem[],
  options: MaterializeOptions,
): Promise<ImageSet> {
  const builder = new ImageSetBuilder(options.size, items.length);
  let done = 0;
  let lastLog = Date.now();
  for (const item of items) {
    const pixels =
      item.source.kind === "synthetic"
        ? renderSynthetic(item.source, options)
        : await loadFile(item.source, options);
    if (pixels) builder.add(pixels.image, pixels.mask, item);
    done++;
    if (options.log && Date.now() - lastLog > 5000) {
      options.log(`data: prepared ${done}/${items.length} images`);
      lastLog = Date.now();
    }
  }
  return builder.build();
}

function renderSynthetic(
  source: SyntheticSource,
  options: Pick<MaterializeOptions, "size" | "maskSource">,
): { image: Float32Array; mask: Uint8Array } {
  const rendered = generateImage({
    size: options.size,
    label: source.trueLabel,
    patientSeed: source.patientSeed,
    studySeed: source.studySeed,
    imageSeed: source.imageSeed,
    profile: source.profile,
  });
  const mask =
    options.maskSource === "lesions"
      ? rendered.lesionMask
      : rasterizeBoxes(
          rendered.boxes,
          squareMapping(options.size, options.size, options.size, "stretch"),
          options.size,
        );
  return { image: rendered.image, mask };
}

async function loadFile(
  source: FileSource,
  options: MaterializeOptions,
): Promise<{ image: Float32Array; mask: Uint8Array } | undefined> {
  try {
    const params = {
      size: options.size,
      resize: options.resize,
      ...(options.maxImageBytes !== undefined ? { maxImageBytes: options.maxImageBytes } : {}),
    };
    const loaded = await loadPreprocessed(source.path, params, options.cacheDir);
    for (const box of source.boxes) {
      const problem = boxProblem(box, loaded.width, loaded.height);
      if (problem) {
        options.badItems.report("box-outside-image", source.origin, `${problem} (${source.path})`);
        return undefined;
      }
    }
    const mapping = squareMapping(loaded.width, loaded.height, options.size, options.resize);
    const mask = rasterizeBoxes(source.boxes, mapping, options.size);
    if (source.maskPath) {
      const maskImage = await loadPreprocessed(source.maskPath, params);
      if (maskImage.width !== loaded.width || maskImage.height !== loaded.height) {
        options.badItems.report(
          "malformed-row",
          source.origin,
          `mask ${source.maskPath} is ${maskImage.width}x${maskImage.height}, image is ${loaded.width}x${loaded.height}`,
        );
        return undefined;
      }
      for (let i = 0; i < mask.length; i++) if ((maskImage.image[i] as number) >= 0.5) mask[i] = 1;
    }
    return { image: loaded.image, mask };
  } catch (error) {
    if (isFlError(error, ErrorCode.TooLarge)) {
      options.badItems.report("too-large", source.path, error.message);
      return undefined;
    }
    if (isFlError(error, ErrorCode.Unsupported)) {
      options.badItems.report("unsupported-format", source.path, error.message);
      return undefined;
    }
    if (isFlError(error, ErrorCode.DataError)) {
      options.badItems.report("corrupt-file", source.path, error.message);
      return undefined;
    }
    throw FlError.from(error);
  }
}
