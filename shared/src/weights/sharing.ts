import { ErrorCode, FlError } from "../errors.js";
import { createManifest } from "./manifest.js";
import type { ModelWeights, TensorSharing } from "./types.js";

/** Decides per tensor whether it leaves the hospital. */
export type SharingRule = (tensorName: string) => TensorSharing;

/**
 * A rule from glob patterns naming the tensors that stay at the hospital (`*` matches any run of
 * characters, `?` one character), e.g. `["enc.*moving_*"]` for FedBN statistics or `["cls.*"]`
 * for a site-specific head. Everything else is shared. Both sides build the rule from the same
 * patterns (the phase's `local` list travels with each task), so they agree on what is uploaded.
 */
export function sharingRule(localPatterns: readonly string[]): SharingRule {
  const regexes = localPatterns.map((pattern) => {
    if (pattern.length === 0)
      throw new FlError(ErrorCode.InvalidConfig, "an empty tensor pattern matches nothing useful");
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    return new RegExp(`^${source}$`);
  });
  return (name) => (regexes.some((r) => r.test(name)) ? "local" : "shared");
}

/** The same weights with each tensor's sharing set by the rule (values are not copied). */
export function withSharing(weights: ModelWeights, rule: SharingRule): ModelWeights {
  const manifest = createManifest(
    weights.manifest.tensors.map((t) => ({ name: t.name, shape: t.shape, sharing: rule(t.name) })),
  );
  return { manifest, values: weights.values };
}

/** Names of the tensors a set of patterns matches, to check a config against a model. */
export function matchingTensors(weights: ModelWeights, patterns: readonly string[]): string[] {
  const rule = sharingRule(patterns);
  return weights.manifest.tensors.filter((t) => rule(t.name) === "local").map((t) => t.name);
}
