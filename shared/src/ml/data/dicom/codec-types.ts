/** Frame geometry as the cornerstone WASM codecs report and accept it. */
export interface CodecFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}

/** The decoder object shape shared by the CharLS and OpenJPEG WASM builds. */
export interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): CodecFrameInfo;
  delete(): void;
}

/** The encoder object shape (used by tests to make compressed fixtures). */
export interface WasmEncoder {
  getDecodedBuffer(frameInfo: CodecFrameInfo): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  /** OpenJPEG only: wavelet levels (tiny test images need few). */
  setDecompositions?(levels: number): void;
  delete(): void;
}

export interface EmscriptenCodecModule {
  JpegLSDecoder?: new () => WasmDecoder;
  JpegLSEncoder?: new () => WasmEncoder;
  J2KDecoder?: new () => WasmDecoder;
  J2KEncoder?: new () => WasmEncoder;
}

export type EmscriptenCodecFactory = (options?: object) => Promise<EmscriptenCodecModule>;
