/** How the pixel data of a transfer syntax is stored. */
export type PixelEncoding =
  | "native-le"
  | "native-be"
  | "deflate"
  | "rle"
  | "jpeg-baseline"
  | "jpeg-extended"
  | "jpeg-lossless"
  | "jpeg-ls"
  | "jpeg-2000";

export interface TransferSyntaxInfo {
  readonly name: string;
  /** Undefined: known syntax without a codec here (the loader says so by name). */
  readonly encoding?: PixelEncoding;
}

/** DICOM PS3.5 / PS3.6 transfer syntaxes this loader knows by name. */
export const TRANSFER_SYNTAXES: Readonly<Record<string, TransferSyntaxInfo>> = {
  "1.2.840.10008.1.2": { name: "Implicit VR Little Endian", encoding: "native-le" },
  "1.2.840.10008.1.2.1": { name: "Explicit VR Little Endian", encoding: "native-le" },
  "1.2.840.10008.1.2.1.99": { name: "Deflated Explicit VR Little Endian", encoding: "deflate" },
  "1.2.840.10008.1.2.2": { name: "Explicit VR Big Endian (retired)", encoding: "native-be" },
  "1.2.840.10008.1.2.5": { name: "RLE Lossless", encoding: "rle" },
  "1.2.840.10008.1.2.4.50": { name: "JPEG Baseline (Process 1)", encoding: "jpeg-baseline" },
  "1.2.840.10008.1.2.4.51": { name: "JPEG Extended (Process 2 & 4)", encoding: "jpeg-extended" },
  "1.2.840.10008.1.2.4.57": {
    name: "JPEG Lossless, Non-Hierarchical (Process 14)",
    encoding: "jpeg-lossless",
  },
  "1.2.840.10008.1.2.4.70": {
    name: "JPEG Lossless, First-Order Prediction (Process 14 SV1)",
    encoding: "jpeg-lossless",
  },
  "1.2.840.10008.1.2.4.80": { name: "JPEG-LS Lossless", encoding: "jpeg-ls" },
  "1.2.840.10008.1.2.4.81": { name: "JPEG-LS Near-Lossless", encoding: "jpeg-ls" },
  "1.2.840.10008.1.2.4.90": { name: "JPEG 2000 Lossless", encoding: "jpeg-2000" },
  "1.2.840.10008.1.2.4.91": { name: "JPEG 2000", encoding: "jpeg-2000" },
  "1.2.840.10008.1.2.4.92": { name: "JPEG 2000 Part 2 Multi-component Lossless" },
  "1.2.840.10008.1.2.4.93": { name: "JPEG 2000 Part 2 Multi-component" },
  "1.2.840.10008.1.2.4.100": { name: "MPEG2 Main Profile / Main Level" },
  "1.2.840.10008.1.2.4.101": { name: "MPEG2 Main Profile / High Level" },
  "1.2.840.10008.1.2.4.102": { name: "MPEG-4 AVC/H.264 High Profile" },
  "1.2.840.10008.1.2.4.103": { name: "MPEG-4 AVC/H.264 BD-compatible High Profile" },
  "1.2.840.10008.1.2.4.201": { name: "High-Throughput JPEG 2000 Lossless" },
  "1.2.840.10008.1.2.4.202": { name: "High-Throughput JPEG 2000 with RPCL Lossless" },
  "1.2.840.10008.1.2.4.203": { name: "High-Throughput JPEG 2000" },
  "1.2.840.10008.1.2.4.110": { name: "JPEG XL Lossless" },
  "1.2.840.10008.1.2.4.112": { name: "JPEG XL" },
};

/** The transfer syntaxes that decode here, for messages and docs. */
export function supportedTransferSyntaxes(): string[] {
  return Object.entries(TRANSFER_SYNTAXES)
    .filter(([, info]) => info.encoding !== undefined)
    .map(([uid, info]) => `${uid} (${info.name})`);
}
