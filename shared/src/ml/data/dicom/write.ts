/**
 * A minimal DICOM Part 10 writer for single-frame grey images (uncompressed, explicit or
 * implicit VR little endian). Used by `fl data synth` so that the loaders read the same kind of
 * files a hospital would bring; deliberately independent of the parser the loaders use.
 */

export interface DicomImageSpec {
  readonly rows: number;
  readonly columns: number;
  readonly bitsAllocated: 8 | 16;
  readonly bitsStored: number;
  readonly photometric: "MONOCHROME1" | "MONOCHROME2";
  /** Stored values, row-major; must fit in bitsStored (unsigned). */
  readonly pixels: Uint16Array | Uint8Array;
  readonly vr: "explicit" | "implicit";
  readonly rescaleSlope?: number;
  readonly rescaleIntercept?: number;
  readonly window?: { readonly center: number; readonly width: number };
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly patientId: string;
  readonly modality?: string;
  readonly institutionName?: string;
  readonly manufacturer?: string;
  readonly viewPosition?: string;
}

const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const IMPLICIT_LE = "1.2.840.10008.1.2";
const CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1";
const DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1";
const IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1457.1";

/** VRs whose explicit encoding has a 4-byte length after two reserved bytes. */
const LONG_VRS = new Set(["OB", "OW", "OF", "SQ", "UT", "UN"]);

interface Element {
  readonly group: number;
  readonly element: number;
  readonly vr: string;
  readonly value: Uint8Array;
}

function padded(text: string, vr: string): Uint8Array {
  const bytes = Buffer.from(text, "latin1");
  if (bytes.length % 2 === 0) return bytes;
  return Buffer.concat([bytes, Buffer.from([vr === "UI" ? 0 : 0x20])]);
}

function str(group: number, element: number, vr: string, text: string): Element {
  return { group, element, vr, value: padded(text, vr) };
}

function us(group: number, element: number, value: number): Element {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value);
  return { group, element, vr: "US", value: b };
}

function ds(value: number): string {
  // DS allows at most 16 characters.
  const text = Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(10)));
  return text.length <= 16 ? text : value.toExponential(8);
}

function encode(elements: readonly Element[], explicit: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const el of [...elements].sort((a, b) => a.group - b.group || a.element - b.element)) {
    const tag = Buffer.alloc(4);
    tag.writeUInt16LE(el.group, 0);
    tag.writeUInt16LE(el.element, 2);
    parts.push(tag);
    if (explicit) {
      parts.push(Buffer.from(el.vr, "latin1"));
      if (LONG_VRS.has(el.vr)) {
        const len = Buffer.alloc(6);
        len.writeUInt32LE(el.value.length, 2);
        parts.push(len);
      } else {
        const len = Buffer.alloc(2);
        len.writeUInt16LE(el.value.length);
        parts.push(len);
      }
    } else {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(el.value.length);
      parts.push(len);
    }
    parts.push(Buffer.from(el.value.buffer, el.value.byteOffset, el.value.byteLength));
  }
  return Buffer.concat(parts);
}

export function writeDicom(spec: DicomImageSpec): Buffer {
  const explicit = spec.vr === "explicit";
  const sopClass = spec.modality === "CR" ? CR_STORAGE : DX_STORAGE;
  const pixelBytes =
    spec.bitsAllocated === 16
      ? Buffer.from(Uint16Array.from(spec.pixels).buffer)
      : Buffer.from(Uint8Array.from(spec.pixels).buffer);
  if (pixelBytes.length !== spec.rows * spec.columns * (spec.bitsAllocated / 8)) {
    throw new RangeError(`pixel count does not match ${spec.rows}x${spec.columns}`);
  }
  const pixelData = pixelBytes.length % 2 === 0 ? pixelBytes : Buffer.concat([pixelBytes, Buffer.alloc(1)]);
  const dataset: Element[] = [
    str(0x0008, 0x0016, "UI", sopClass),
    str(0x0008, 0x0018, "UI", spec.sopInstanceUid),
    str(0x0008, 0x0060, "CS", spec.modality ?? "DX"),
    str(0x0008, 0x0070, "LO", spec.manufacturer ?? ""),
    str(0x0008, 0x0080, "LO", spec.institutionName ?? ""),
    str(0x0010, 0x0010, "PN", `ANON^${spec.patientId}`),
    str(0x0010, 0x0020, "LO", spec.patientId),
    str(0x0018, 0x5101, "CS", spec.viewPosition ?? "PA"),
    str(0x0020, 0x000d, "UI", spec.studyInstanceUid),
    str(0x0020, 0x000e, "UI", spec.seriesInstanceUid),
    us(0x0028, 0x0002, 1),
    str(0x0028, 0x0004, "CS", spec.photometric),
    us(0x0028, 0x0010, spec.rows),
    us(0x0028, 0x0011, spec.columns),
    us(0x0028, 0x0100, spec.bitsAllocated),
    us(0x0028, 0x0101, spec.bitsStored),
    us(0x0028, 0x0102, spec.bitsStored - 1),
    us(0x0028, 0x0103, 0),
    str(0x0028, 0x1052, "DS", ds(spec.rescaleIntercept ?? 0)),
    str(0x0028, 0x1053, "DS", ds(spec.rescaleSlope ?? 1)),
    { group: 0x7fe0, element: 0x0010, vr: spec.bitsAllocated === 16 ? "OW" : "OB", value: pixelData },
  ];
  if (spec.window) {
    dataset.push(
      str(0x0028, 0x1050, "DS", ds(spec.window.center)),
      str(0x0028, 0x1051, "DS", ds(spec.window.width)),
    );
  }
  const metaBody = encode(
    [
      { group: 0x0002, element: 0x0001, vr: "OB", value: Uint8Array.from([0, 1]) },
      str(0x0002, 0x0002, "UI", sopClass),
      str(0x0002, 0x0003, "UI", spec.sopInstanceUid),
      str(0x0002, 0x0010, "UI", explicit ? EXPLICIT_LE : IMPLICIT_LE),
      str(0x0002, 0x0012, "UI", IMPLEMENTATION_UID),
      str(0x0002, 0x0013, "SH", "FL_SYNTH_1"),
    ],
    true,
  );
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length);
  const meta = Buffer.concat([
    encode([{ group: 0x0002, element: 0x0000, vr: "UL", value: groupLength }], true),
    metaBody,
  ]);
  const preamble = Buffer.concat([Buffer.alloc(128), Buffer.from("DICM", "latin1")]);
  return Buffer.concat([preamble, meta, encode(dataset, explicit)]);
}
