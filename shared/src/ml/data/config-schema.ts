// The `data` section of a config: its zod schema, the resolved types and validation. Kept apart
// from config.ts (which builds catalogs through the loaders) because the loaders need these
// types: one module for both made config.ts and loaders/ import each other.
import { z } from "zod";
import { ErrorCode, FlError } from "../../errors.js";
import { DEFAULT_MAX_IMAGE_BYTES } from "./image/limits.js";
import { PRESET_NAMES } from "./synth/hospitals.js";

const PartitionSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("natural") }).strict(),
  z.object({ kind: z.literal("iid"), sites: z.number().int().min(1) }).strict(),
  z
    .object({
      kind: z.literal("dirichlet"),
      sites: z.number().int().min(1),
      alpha: z.number().positive(),
      minItems: z.number().int().min(0).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal("quantity"),
      sites: z.number().int().min(1),
      alpha: z.number().positive(),
      minItems: z.number().int().min(0).optional(),
    })
    .strict(),
]);

const SplitSchema = z
  .object({ val: z.number().min(0).max(0.9).default(0.15), test: z.number().min(0).max(0.9).default(0.15) })
  .strict()
  .refine((s) => s.val + s.test < 1, { message: "val + test must be below 1" });

const common = {
  /** Side of the square images handed to training, in pixels. */
  imageSize: z.number().int().min(8).max(2048).default(128),
  /** Seeds generation, partitioning and splitting. */
  seed: z.number().int().min(0).default(0),
  /** How the pooled items are divided among sites; default: each item's own site. */
  partition: PartitionSchema.default({ kind: "natural" }),
  /** Held-out fractions per site. */
  splits: SplitSchema.default({ val: 0.15, test: 0.15 }),
};

const fileCommon = {
  ...common,
  /** Dataset folder; relative paths in the config resolve against it. */
  root: z.string().min(1),
  /** How non-square images become square: "stretch" (SIIM practice) or "pad" (letterbox). */
  resize: z.enum(["stretch", "pad"]).default("stretch"),
  /** Column naming each item's hospital (natural partition); without it all items are site "all". */
  siteColumn: z.string().min(1).optional(),
  /** Keep images that have no label, with label -1 (for self-supervision), instead of reporting them. */
  includeUnlabelled: z.boolean().default(false),
  /**
   * Folders besides root that files the dataset names may lie in (relative to root or absolute);
   * any other path, `../` or symbolic link leading out of them is a bad item.
   */
  allowedRoots: z.array(z.string().min(1)).default([]),
  /** Bound on one decoded image, rows × columns × samples × bytes, checked before decoding. */
  maxImageBytes: z.number().int().positive().default(DEFAULT_MAX_IMAGE_BYTES),
};

const SyntheticSchema = z
  .object({
    kind: z.literal("synthetic"),
    /** A named federation of hospital profiles (see SITE_PRESETS). */
    preset: z.string().refine((p) => PRESET_NAMES.includes(p), {
      message: `unknown preset; use one of ${PRESET_NAMES.join(", ")}`,
    }),
    /** Images generated per hospital of the preset. */
    imagesPerSite: z.number().int().min(1).default(200),
    /** Training masks from the opacity boxes (as real data has) or from the exact lesion outlines. */
    maskSource: z.enum(["boxes", "lesions"]).default("boxes"),
    ...common,
  })
  .strict();

const SiimSchema = z
  .object({
    kind: z.literal("siim"),
    ...fileCommon,
    studyCsv: z.string().default("train_study_level.csv"),
    imageCsv: z.string().default("train_image_level.csv"),
    imageDir: z.string().default("train"),
    /** Column of the study CSV with a patient id; otherwise PatientID is read from each DICOM header. */
    patientColumn: z.string().min(1).optional(),
  })
  .strict();

const FolderSchema = z
  .object({
    kind: z.literal("folder"),
    ...fileCommon,
    /** Labels CSV, relative to root. */
    labels: z.string().default("labels.csv"),
    /** Column with the image path relative to root. */
    imageColumn: z.string().default("image"),
    /** Column with the class (name, short key, or index 0-3). */
    labelColumn: z.string().default("label"),
    studyColumn: z.string().min(1).optional(),
    patientColumn: z.string().min(1).optional(),
    /** Column with a mask image path (non-zero = opacity), relative to root. */
    maskColumn: z.string().min(1).optional(),
    /** Column with boxes: JSON or SIIM-style `[{'x': .., 'y': .., 'width': .., 'height': ..}]`. */
    boxesColumn: z.string().default("boxes"),
  })
  .strict();

const ResolvedSchema = z.discriminatedUnion("kind", [SyntheticSchema, SiimSchema, FolderSchema]);

/** A validated data config with every default filled in. */
export type ResolvedDataConfig = z.output<typeof ResolvedSchema>;
/** The `data` section of a federation/client config as written (defaults optional). */
export type DataConfig = z.input<typeof ResolvedSchema>;
export type SiimDataConfig = Extract<ResolvedDataConfig, { kind: "siim" }>;
export type FolderDataConfig = Extract<ResolvedDataConfig, { kind: "folder" }>;

/**
 * zod schema of the `data` section of a federation/client config (JSON/YAML). Examples:
 *   { kind: "synthetic", preset: "3-hospitals", imagesPerSite: 240, imageSize: 64, seed: 7 }
 *   { kind: "siim", root: "/data/siim", siteColumn: "site", imageSize: 128 }
 *   { kind: "folder", root: "/data/xrays", labels: "labels.csv", imageSize: 128 }
 * Parsing fills defaults; unknown keys are rejected so that typos do not pass silently.
 */
export const DataConfigSchema: z.ZodType<ResolvedDataConfig, DataConfig> = ResolvedSchema;

/** Validates a data config; throws FlError(InvalidConfig) listing each offending key. */
export function resolveDataConfig(config: DataConfig | ResolvedDataConfig): ResolvedDataConfig {
  const parsed = DataConfigSchema.safeParse(config);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (issue) => `data.${issue.path.join(".") || "(root)"}: ${issue.message}`,
  );
  throw new FlError(ErrorCode.InvalidConfig, `invalid data config: ${problems.join("; ")}`);
}
