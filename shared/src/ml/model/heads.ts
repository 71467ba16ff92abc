import type * as tfl from "@tensorflow/tfjs-layers";
import type { Flow, LayerFactory, LayerRunner } from "./flow.js";

/** Global average pooling of the bottleneck, then a linear layer: `cls.pool`, `cls.logits`. */
export class ClassificationHead {
  private readonly pool: tfl.layers.Layer;
  private readonly logits: tfl.layers.Layer;

  constructor(factory: LayerFactory, numClasses: number) {
    this.pool = factory.globalPool("cls.pool");
    this.logits = factory.dense("cls.logits", { units: numClasses });
  }

  forward<T extends Flow>(bottleneck: T, run: LayerRunner<T>): T {
    return run(this.logits, run(this.pool, bottleneck));
  }
}

/**
 * MoCo v2's projection head: global average pooling, a hidden layer with ReLU as wide as the
 * bottleneck, a linear output (`proj.pool`, `proj.hidden`, `proj.out`). Not normalised here:
 * the contrastive loss L2-normalises the projections.
 */
export class ProjectionHead {
  private readonly pool: tfl.layers.Layer;
  private readonly hidden: tfl.layers.Layer;
  private readonly out: tfl.layers.Layer;

  constructor(factory: LayerFactory, options: { hiddenUnits: number; projectionDim: number }) {
    this.pool = factory.globalPool("proj.pool");
    this.hidden = factory.dense("proj.hidden", { units: options.hiddenUnits, activation: "relu" });
    this.out = factory.dense("proj.out", { units: options.projectionDim });
  }

  forward<T extends Flow>(bottleneck: T, run: LayerRunner<T>): T {
    return run(this.out, run(this.hidden, run(this.pool, bottleneck)));
  }
}

/** A 1x1 convolution to one channel at the decoder's resolution (`dec.mask` or `dec.recon`). */
export class PixelHead {
  private readonly conv: tfl.layers.Layer;

  constructor(factory: LayerFactory, name: "dec.mask" | "dec.recon") {
    this.conv = factory.outputConv(name, 1);
  }

  forward<T extends Flow>(decoded: T, run: LayerRunner<T>): T {
    return run(this.conv, decoded);
  }
}
