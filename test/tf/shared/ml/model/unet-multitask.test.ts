import type * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { ENCODER_TOTAL_STRIDE } from "../../../../../shared/src/fl/model-spec.js";
import { layerSeed } from "../../../../../shared/src/ml/model/flow.js";
import {
  buildInpaintingNetwork,
  buildMocoNetwork,
  buildModel,
  buildMultitaskNetwork,
  ModelSpecSchema,
  manifestOf,
  UnetLayers,
  type UnetMultitaskSpec,
  UnetMultitaskSpecSchema,
} from "../../../../../shared/src/ml/model/index.js";
import { initBackend, type LoadedBackend } from "../../../../../shared/src/ml/tf/backend.js";

let tf: LoadedBackend["tf"];
beforeAll(async () => {
  tf = (await initBackend({ prefer: "wasm", log: () => {} })).tf;
});

function tinySpec(overrides: Partial<UnetMultitaskSpec> = {}): UnetMultitaskSpec {
  return UnetMultitaskSpecSchema.parse({
    architecture: "unet-multitask",
    encoder: "tiny",
    imageSize: 32,
    numClasses: 4,
    seed: 7,
    ...overrides,
  });
}

const names = (model: tfl.LayersModel) => model.weights.map((w) => w.originalName);

/** Trainable parameters whose names start with `prefix`. */
function trainableCount(model: tfl.LayersModel, prefix: string): number {
  return model.trainableWeights
    .filter((w) => w.originalName.startsWith(prefix))
    .reduce((sum, w) => sum + w.shape.reduce((a, b) => (a as number) * (b as number), 1)!, 0);
}

describe("the spec", () => {
  it("fills projectionDim 128 and phase multitask by default", () => {
    const spec = tinySpec();
    expect(spec.projectionDim).toBe(128);
    expect(spec.phase).toBe("multitask");
  });

  it("refuses an image size the encoder cannot halve evenly, naming the stride", () => {
    const result = ModelSpecSchema.safeParse({
      architecture: "unet-multitask",
      encoder: "resnet18",
      imageSize: 48,
      numClasses: 4,
      seed: 1,
    });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain("multiple of 32");
  });

  it("states each preset's total stride as the encoder computes it", () => {
    // Layer objects hold no weights until a model is built: this is cheap even for resnet18.
    for (const encoder of ["tiny", "resnet18"] as const) {
      const layers = new UnetLayers({ ...tinySpec(), encoder, imageSize: 64 });
      expect(layers.encoder.totalStride).toBe(ENCODER_TOTAL_STRIDE[encoder]);
    }
  });

  it("still accepts and builds the small CNN", () => {
    const spec = ModelSpecSchema.parse({
      architecture: "small-cnn",
      imageSize: 16,
      widths: [4],
      numClasses: 4,
      seed: 1,
    });
    const model = buildModel(spec);
    expect(model.outputs[0]?.shape).toEqual([null, 4]);
    model.dispose();
  });
});

describe("phase networks (tiny encoder)", () => {
  it("have the documented outputs", () => {
    const spec = tinySpec({ projectionDim: 16 });
    const multitask = buildMultitaskNetwork(spec);
    const moco = buildMocoNetwork(spec, { layers: multitask.layers });
    const inpainting = buildInpaintingNetwork(spec, { layers: multitask.layers });
    expect(multitask.model.outputs.map((o) => o.shape)).toEqual([
      [null, 4],
      [null, 32, 32, 1],
    ]);
    expect(moco.model.outputs.map((o) => o.shape)).toEqual([[null, 16]]);
    expect(inpainting.model.outputs.map((o) => o.shape)).toEqual([[null, 32, 32, 1]]);
    const x = tf.zeros([2, 32, 32, 1]) as import("@tensorflow/tfjs-core").Tensor4D;
    tf.tidy(() => {
      const out = multitask.run(x, { training: true });
      expect(out.classLogits.shape).toEqual([2, 4]);
      expect(out.maskLogits.shape).toEqual([2, 32, 32, 1]);
      expect(multitask.classify(x, { training: false }).shape).toEqual([2, 4]);
      expect(moco.run(x, { training: true }).projection.shape).toEqual([2, 16]);
      expect(inpainting.run(x, { training: false }).reconstruction.shape).toEqual([2, 32, 32, 1]);
    });
    x.dispose();
    multitask.dispose();
    moco.dispose();
    inpainting.dispose();
  });

  it("name every weight with a stable, prefixed name", () => {
    const first = buildMultitaskNetwork(tinySpec());
    // A second build in the same process: tfjs suffixes variable names, original names stay.
    const second = buildMultitaskNetwork(tinySpec());
    expect(names(second.model)).toEqual(names(first.model));
    const all = names(first.model);
    expect(new Set(all).size).toBe(all.length);
    expect(all.every((n) => /^(enc|dec|cls)\./.test(n))).toBe(true);
    // Trainable weights first, in layer order (stem, then stage 1's basic block), then the
    // batch-norm moving statistics.
    expect(all.slice(0, 8)).toEqual([
      "enc.stem/kernel",
      "enc.stem.bn/gamma",
      "enc.stem.bn/beta",
      "enc.s1.b1.conv1/kernel",
      "enc.s1.b1.conv1.bn/gamma",
      "enc.s1.b1.conv1.bn/beta",
      "enc.s1.b1.conv2/kernel",
      "enc.s1.b1.conv2.bn/gamma",
    ]);
    const trainable = first.model.trainableWeights.length;
    expect(all.slice(trainable, trainable + 2)).toEqual([
      "enc.stem.bn/moving_mean",
      "enc.stem.bn/moving_variance",
    ]);
    for (const expected of [
      "enc.s2.b1.down/kernel",
      "enc.s4.b1.conv2.bn/moving_variance",
      "dec.up1.conv1/kernel",
      "dec.up4.conv1.bn/beta",
      "dec.mask/kernel",
      "dec.mask/bias",
      "cls.logits/kernel",
      "cls.logits/bias",
    ]) {
      expect(all).toContain(expected);
    }
    expect(all.some((n) => n.startsWith("enc.s1.b1.down"))).toBe(false); // identity shortcut
    const moco = buildMocoNetwork(tinySpec(), { namePrefix: "key." });
    expect(names(moco.model).every((n) => /^key\.(enc|proj)\./.test(n))).toBe(true);
    expect(names(moco.model)).toContain("key.proj.out/kernel");
    const inpainting = buildInpaintingNetwork(tinySpec());
    expect(names(inpainting.model)).toContain("dec.recon/kernel");
    expect(names(inpainting.model).some((n) => n.startsWith("cls.") || n.startsWith("dec.mask"))).toBe(false);
    for (const n of [first, second, moco, inpainting]) n.dispose();
  });

  it("give a layer the same initial weights in every phase and every build with the same seed", () => {
    const multitask = buildMultitaskNetwork(tinySpec());
    const moco = buildMocoNetwork(tinySpec());
    const other = buildMultitaskNetwork(tinySpec({ seed: 8 }));
    const kernel = (model: tfl.LayersModel, name: string) =>
      Array.from(
        model.weights
          .find((w) => w.originalName === name)
          ?.read()
          .dataSync() ?? [],
      );
    expect(kernel(moco.model, "enc.s3.b1.conv2/kernel")).toEqual(
      kernel(multitask.model, "enc.s3.b1.conv2/kernel"),
    );
    expect(kernel(other.model, "enc.s3.b1.conv2/kernel")).not.toEqual(
      kernel(multitask.model, "enc.s3.b1.conv2/kernel"),
    );
    expect(layerSeed(7, "enc.stem")).toBe(layerSeed(7, "enc.stem"));
    expect(layerSeed(7, "enc.stem")).not.toBe(layerSeed(7, "enc.stem.bn"));
    for (const n of [multitask, moco, other]) n.dispose();
  });

  it("run eagerly in inference mode exactly as the layers model predicts", () => {
    const network = buildMultitaskNetwork(tinySpec());
    const x = tf.randomUniform(
      [3, 32, 32, 1],
      0,
      1,
      "float32",
      11,
    ) as import("@tensorflow/tfjs-core").Tensor4D;
    const [classLogits, maskLogits] = network.model.predict(x) as import("@tensorflow/tfjs-core").Tensor[];
    const eager = network.run(x, { training: false });
    expect(Array.from(eager.classLogits.dataSync())).toEqual(Array.from(classLogits?.dataSync() ?? []));
    expect(Array.from(eager.maskLogits.dataSync())).toEqual(Array.from(maskLogits?.dataSync() ?? []));
    tf.dispose([x, classLogits, maskLogits, eager.classLogits, eager.maskLogits]);
    network.dispose();
  });

  it("use batch statistics and update moving averages only when training, and never in a frozen encoder", () => {
    const network = buildMultitaskNetwork(tinySpec());
    const movingMean = (name: string) =>
      Array.from(
        network.model.weights
          .find((w) => w.originalName === `${name}/moving_mean`)
          ?.read()
          .dataSync() ?? [],
      );
    const encoderBn = "enc.s2.b1.conv1.bn";
    const decoderBn = "dec.up2.conv1.bn";
    const x = tf.randomUniform(
      [4, 32, 32, 1],
      0,
      1,
      "float32",
      3,
    ) as import("@tensorflow/tfjs-core").Tensor4D;
    const initial = [movingMean(encoderBn), movingMean(decoderBn)];
    tf.tidy(() => {
      network.run(x, { training: false });
    });
    expect([movingMean(encoderBn), movingMean(decoderBn)]).toEqual(initial);

    tf.tidy(() => {
      network.run(x, { training: true, freezeEncoder: true });
    });
    expect(movingMean(encoderBn)).toEqual(initial[0]);
    expect(movingMean(decoderBn)).not.toEqual(initial[1]);

    // Fresh moving statistics (mean 0, variance 1) differ from a batch's: outputs must differ.
    const predicted = tf.tidy(() => network.run(x, { training: false }).classLogits.dataSync());
    const trained = tf.tidy(() => network.run(x, { training: true }).classLogits.dataSync());
    expect(Array.from(trained)).not.toEqual(Array.from(predicted));
    expect(movingMean(encoderBn)).not.toEqual(initial[0]);
    x.dispose();
    network.dispose();
  });

  it("buildModel returns the spec's phase model", () => {
    const moco = buildModel(tinySpec({ phase: "moco", projectionDim: 32 }));
    expect(moco.outputs.map((o) => o.shape)).toEqual([[null, 32]]);
    expect(manifestOf(moco).tensors.every((t) => /^(enc|proj)\./.test(t.name))).toBe(true);
    moco.dispose();
  });
});

describe("the resnet18 preset", () => {
  it("has ResNet-18's 11,170,240 trainable encoder parameters for one input channel", () => {
    // torchvision's resnet18 has 11,689,512 parameters; minus the 1000-way fc (513,000) and
    // minus the stem's two extra input channels (2 x 7 x 7 x 64 = 6,272).
    const network = buildMultitaskNetwork({ ...tinySpec(), encoder: "resnet18", imageSize: 64 });
    expect(trainableCount(network.model, "enc.")).toBe(11_689_512 - 513_000 - 6_272);
    expect(network.model.outputs.map((o) => o.shape)).toEqual([
      [null, 4],
      [null, 64, 64, 1],
    ]);
    network.dispose();
  });
});
