// A short seeded fuzz run of every decoder of untrusted bytes (`npm run bench:fuzz` runs a
// million inputs each): no exception but an FlError, no result beyond the size bound, no hang,
// and the decoder still decodes its valid seeds afterwards.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { FuzzFailure, refusalsOnly, TARGETS } from "../../fixtures/fuzz/targets.js";

const RUNS = 2000;
/** Per input: far above the microseconds a tiny file takes, far below a hang. */
const HANG_MS = 2000;

describe("fuzzing the decoders of untrusted bytes (seeded)", () => {
  for (const [name, make] of Object.entries(TARGETS)) {
    it(`${name}: ${RUNS} inputs`, { timeout: 60_000 }, async () => {
      const target = await make();
      await fc.assert(
        fc.asyncProperty(target.inputs, async (input) => {
          const start = performance.now();
          await target.check(input);
          const ms = performance.now() - start;
          if (ms > HANG_MS) throw new FuzzFailure(`${Math.round(ms)} ms on ${input.length} bytes`);
        }),
        { numRuns: RUNS, seed: 20261201, endOnFailure: true },
      );
      await target.stillHealthy();
    });
  }

  it("a refusal is an FlError; any other exception is a failure", async () => {
    await expect(
      refusalsOnly("decoder", () => {
        throw new FlError(ErrorCode.DataError, "bad file");
      }),
    ).resolves.toBeUndefined();
    await expect(
      refusalsOnly("decoder", () => {
        throw new RangeError("Invalid typed array length");
      }),
    ).rejects.toThrow(FuzzFailure);
  });
});
