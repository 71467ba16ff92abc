import type { ImageSet } from "./types.js";

/** A fixed-capacity ImageSet under construction. */
export class ImageSetBuilder {
  private readonly images: Float32Array;
  private readonly masks: Uint8Array;
  private readonly labels: Int32Array;
  private readonly imageIds: string[] = [];
  private readonly studyIds: string[] = [];
  private readonly patientIds: string[] = [];

  constructor(
    readonly size: number,
    readonly capacity: number,
  ) {
    this.images = new Float32Array(capacity * size * size);
    this.masks = new Uint8Array(capacity * size * size);
    this.labels = new Int32Array(capacity);
  }

  get count(): number {
    return this.imageIds.length;
  }

  add(
    image: Float32Array,
    mask: Uint8Array,
    ids: { imageId: string; studyId: string; patientId: string; label: number },
  ): void {
    const k = this.count;
    if (k >= this.capacity) throw new RangeError("ImageSetBuilder is full");
    const offset = k * this.size * this.size;
    this.images.set(image, offset);
    this.masks.set(mask, offset);
    this.labels[k] = ids.label;
    this.imageIds.push(ids.imageId);
    this.studyIds.push(ids.studyId);
    this.patientIds.push(ids.patientId);
  }

  /** The set with exactly the images added (a copy when fewer than `capacity` were added). */
  build(): ImageSet {
    const n = this.count;
    const pixels = n * this.size * this.size;
    const full = n === this.capacity;
    return {
      size: this.size,
      count: n,
      images: full ? this.images : this.images.slice(0, pixels),
      masks: full ? this.masks : this.masks.slice(0, pixels),
      labels: full ? this.labels : this.labels.slice(0, n),
      imageIds: this.imageIds,
      studyIds: this.studyIds,
      patientIds: this.patientIds,
    };
  }
}
