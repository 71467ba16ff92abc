// Type declarations for codec packages that ship none (only what this project calls).

declare module "jpeg-lossless-decoder-js" {
  export class Decoder {
    decode(
      buffer: ArrayBuffer,
      offset?: number,
      length?: number,
      numBytes?: number,
    ): Uint8Array | Uint16Array;
    numComp: number;
    precision: number;
    xDim: number;
    yDim: number;
  }
}

declare module "@cornerstonejs/codec-charls/wasmjs" {
  import type { EmscriptenCodecFactory } from "./codec-types.js";

  const factory: EmscriptenCodecFactory;
  export default factory;
}

declare module "@cornerstonejs/codec-openjpeg/wasmjs" {
  import type { EmscriptenCodecFactory } from "./codec-types.js";

  const factory: EmscriptenCodecFactory;
  export default factory;
}
