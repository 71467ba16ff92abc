import { describe, expect, it } from "vitest";
import { carryOverWeights } from "../../../../shared/src/weights/carry-over.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";

function weights(tensors: { name: string; shape: number[]; values: number[] }[]): ModelWeights {
  const manifest = createManifest(
    tensors.map((t) => ({ name: t.name, shape: t.shape, sharing: "shared" as const })),
  );
  return { manifest, values: Float32Array.from(tensors.flatMap((t) => t.values)) };
}

describe("carrying weights over between phases", () => {
  // Pre-trained (inpainting): encoder, decoder, reconstruction head.
  const pretrained = weights([
    { name: "enc.stem/kernel", shape: [2], values: [1, 2] },
    { name: "dec.up1.conv1/kernel", shape: [3], values: [3, 4, 5] },
    { name: "dec.recon/kernel", shape: [1], values: [6] },
  ]);
  // Fresh multi-task: same encoder, a decoder tensor of another shape, a classification head.
  const fresh = weights([
    { name: "enc.stem/kernel", shape: [2], values: [0, 0] },
    { name: "dec.up1.conv1/kernel", shape: [1, 3], values: [0, 0, 0] },
    { name: "cls.logits/kernel", shape: [2], values: [9, 9] },
  ]);

  it("copies same-named, same-shaped tensors and keeps the rest", () => {
    const result = carryOverWeights(pretrained, fresh);
    expect(Array.from(result.weights.values)).toEqual([1, 2, 0, 0, 0, 9, 9]);
    expect(result.copied).toEqual(["enc.stem/kernel"]);
    expect(result.kept).toEqual(["dec.up1.conv1/kernel", "cls.logits/kernel"]);
    expect(result.weights.manifest).toBe(fresh.manifest);
    expect(Array.from(fresh.values)).toEqual([0, 0, 0, 0, 0, 9, 9]); // input untouched
  });

  it("copies only what the selector allows", () => {
    const result = carryOverWeights(pretrained, fresh, (name) => !name.startsWith("enc."));
    expect(result.copied).toEqual([]);
    expect(Array.from(result.weights.values)).toEqual(Array.from(fresh.values));
  });
});
