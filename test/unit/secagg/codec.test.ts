import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../shared/src/errors.js";
import {
  checkBitBudget,
  decodeMean,
  decodeSum,
  encodeFixedPoint,
  maxFracBits,
  quantisationBound,
  SecAggReason,
} from "../../../shared/src/secagg/index.js";

describe("fixed-point codec", () => {
  it("encodes by hand-checked values: scale, round, clip, two's complement", () => {
    const codec = { clip: 1, fracBits: 2 };
    const encoded = encodeFixedPoint(Float32Array.of(0.5, -0.25, 3.7, -9, 0.3, 0), codec);
    // 0.5·4 = 2; −0.25·4 = −1 → 2^32 − 1; 3.7 clipped to 1 → 4; −9 → −4; 0.3·4 = 1.2 → 1.
    expect([...encoded]).toEqual([2, 2 ** 32 - 1, 4, 2 ** 32 - 4, 1, 0]);
  });

  it("refuses NaN and infinities rather than clipping them", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => encodeFixedPoint(Float32Array.of(0, bad), { clip: 1, fracBits: 8 })).toThrow(
        expect.objectContaining({ code: ErrorCode.NonFinite, message: expect.stringMatching(/value 1/) }),
      );
    }
  });

  it("wrap-around adds in the ring give the signed sum back", () => {
    const codec = { clip: 1, fracBits: 4 };
    const a = encodeFixedPoint(Float32Array.of(-1, 0.5), codec);
    const b = encodeFixedPoint(Float32Array.of(-0.75, -1), codec);
    const sum = a.map((v, i) => v + (b[i] as number));
    expect([...decodeSum(sum, codec)]).toEqual([-1.75, -0.5]);
    expect([...decodeMean(sum, 2, codec)]).toEqual([-0.875, -0.25]);
  });

  it("checks the bit budget exactly at its edge and says what to lower", () => {
    // n · ⌈clip · 2^f⌉ ≤ 2^31 − 1: with f = 0, clip = (2^31 − 1)/n fits exactly for n = 1.
    expect(() => checkBitBudget({ clip: 2 ** 31 - 1, fracBits: 0 }, 1)).not.toThrow();
    expect(() => checkBitBudget({ clip: 2 ** 31, fracBits: 0 }, 1)).toThrow(/bit budget overflows/);
    expect(() => checkBitBudget({ clip: 1, fracBits: 24 }, 127)).not.toThrow(); // 127·2^24 < 2^31
    const error = (() => {
      try {
        checkBitBudget({ clip: 10, fracBits: 24 }, 50);
      } catch (e) {
        return e as Error & { reason: string; code: string };
      }
      return undefined;
    })();
    expect(error?.code).toBe(ErrorCode.InvalidConfig);
    expect(error?.reason).toBe(SecAggReason.BadParams);
    // 50 · 10 · 2^24 = 8388608000; the largest f with 500 · 2^f ≤ 2^31 − 1 is 22.
    expect(error?.message).toMatch(/50 clients × clip 10 × 2\^24 = 8388608000 > 2\^31 − 1 = 2147483647/);
    expect(error?.message).toMatch(/lower fracBits to 22 or less, or clip to 2\.559999942779541 or less/);
    expect(maxFracBits(10, 50)).toBe(22);
    expect(500 * 2 ** 22).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(500 * 2 ** 23).toBeGreaterThan(2 ** 31 - 1);
  });

  it("the decoded mean is within the stated quantisation bound of the clipped mean, on random data", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 4, max: 20 }),
        fc.double({ min: 0.01, max: 8, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (n, fracBits, clip, seed) => {
          const codec = { clip, fracBits: Math.min(fracBits, maxFracBits(clip, n)) };
          if (codec.fracBits < 0) return;
          let state = seed;
          const next = () => {
            state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
            return state / 2 ** 32;
          };
          const inputs = Array.from({ length: n }, () =>
            Float32Array.from({ length: 16 }, () => (next() - 0.5) * 4 * clip),
          );
          const sum = new Uint32Array(16);
          for (const x of inputs)
            encodeFixedPoint(x, codec).forEach((v, i) => {
              sum[i] = (sum[i] as number) + v;
            });
          const mean = decodeMean(sum, n, codec);
          const bound = quantisationBound(codec);
          for (let i = 0; i < 16; i++) {
            const exact = inputs.reduce((s, x) => s + Math.min(clip, Math.max(-clip, x[i] as number)), 0) / n;
            expect(Math.abs((mean[i] as number) - exact)).toBeLessThanOrEqual(bound);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
