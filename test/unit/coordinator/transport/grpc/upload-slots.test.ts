import { describe, expect, it } from "vitest";
import { UploadSlots } from "../../../../../coordinator/src/transport/grpc/upload-slots.js";

describe("UploadSlots", () => {
  it("starts at most K at once, the others in arrival order as slots free up", () => {
    const slots = new UploadSlots(2);
    const started: string[] = [];
    const release = Object.fromEntries(
      ["a", "b", "c", "d"].map((id) => [id, slots.acquire(() => started.push(id))]),
    );
    expect(started).toEqual(["a", "b"]);
    expect(slots.counts()).toEqual({ running: 2, waiting: 2 });
    release.b!();
    expect(started).toEqual(["a", "b", "c"]);
    // Released twice: the second does not free another slot.
    release.b!();
    expect(slots.counts()).toEqual({ running: 2, waiting: 1 });
    release.a!();
    release.c!();
    release.d!();
    expect(started).toEqual(["a", "b", "c", "d"]);
    expect(slots.counts()).toEqual({ running: 0, waiting: 0 });
  });

  it("lets a stream that goes away while waiting leave the queue without taking a slot", () => {
    const slots = new UploadSlots(1);
    const started: string[] = [];
    const first = slots.acquire(() => started.push("first"));
    const gone = slots.acquire(() => started.push("gone"));
    slots.acquire(() => started.push("next"));
    gone();
    first();
    expect(started).toEqual(["first", "next"]);
    expect(slots.counts()).toEqual({ running: 1, waiting: 0 });
  });

  it("refuses a size that is not a positive integer, naming the limit", () => {
    for (const size of [0, -1, 1.5, Number.NaN])
      expect(() => new UploadSlots(size)).toThrow(/limits.maxConcurrentUploads must be a positive integer/);
  });
});
