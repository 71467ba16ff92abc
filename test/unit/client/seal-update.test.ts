import { describe, expect, it } from "vitest";
import { sealUpdate, sealUpdateInThread } from "../../../client/src/seal-update.js";
import {
  decryptChunk,
  generateIdentity,
  publicIdentity,
  type RandomSource,
  verifyManifest,
} from "../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import {
  concatChunks,
  createManifest,
  serializeWeights,
  sha256Hex,
} from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";

const identity = generateIdentity("a");
const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

/** A counter as the random source: the same inputs draw the same upload id and nonce prefix. */
function counting(): RandomSource {
  let next = 0;
  return (n) => Uint8Array.from({ length: n }, () => next++ & 0xff);
}

function delta(parameters: number): ModelWeights {
  return {
    manifest: createManifest([{ name: "w", shape: [parameters] }]),
    values: Float32Array.from({ length: parameters }, (_, i) => Math.sin(i)),
  };
}

const input = (weights: ModelWeights, chunkSize?: number) => ({
  delta: weights,
  identity,
  key,
  federationId: "f",
  round: 3,
  modelVersion: 2,
  taskId: "t",
  numExamples: 7,
  now: () => 1234,
  random: counting(),
  ...(chunkSize !== undefined && { chunkSize }),
});

describe("sealUpdate on the worker thread", () => {
  it("gives byte for byte what the in-thread version gives for the same inputs", async () => {
    const weights = delta(10_000);
    const offThread = await sealUpdate(input(weights, 4096));
    const inThread = sealUpdateInThread(input(weights, 4096));
    expect(offThread.manifest).toEqual(inThread.manifest);
    expect(offThread.manifest.numChunks).toBe(Math.ceil(serializeWeights(weights).length / 4096));
    expect(Buffer.from(offThread.signature).equals(Buffer.from(inThread.signature))).toBe(true);
    expect(offThread.chunks.map((c) => Buffer.from(c).toString("hex"))).toEqual(
      inThread.chunks.map((c) => Buffer.from(c).toString("hex")),
    );
  });

  it("seals what opens: the chunks decrypt to the serialised delta, and the manifest verifies", async () => {
    const weights = delta(5000);
    const sealed = await sealUpdate(input(weights, 1000));
    const plain = concatChunks(
      sealed.chunks.map((c, i) => decryptChunk(c, i, sealed.manifest.noncePrefix, key)),
    );
    const expected = serializeWeights(weights);
    expect(Buffer.from(plain).equals(Buffer.from(expected))).toBe(true);
    expect(sealed.manifest.contentSha256).toBe(sha256Hex(expected));
    expect(verifyManifest(sealed.manifest, sealed.signature, publicIdentity(identity))).toBe(true);
    // The caller's delta is left as it was (only the module's own serialised copy moves).
    expect(weights.values[1]).toBe(Math.fround(Math.sin(1)));
  });

  it("keeps the event loop running while a 16.5 MB update is sealed", async () => {
    const weights = delta(16_500_000 / 4);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await sealUpdate(input(weights));
    } finally {
      clearInterval(timer);
    }
    // On the calling thread no timer can fire until the seal returns.
    expect(ticks).toBeGreaterThan(2);
  });

  it("passes a sealing error back as the FlError it is, and seals again afterwards", async () => {
    const failed = await sealUpdate({ ...input(delta(10)), key: new Uint8Array(5) }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expectFlError(
      () => {
        throw failed;
      },
      ErrorCode.InvalidArgument,
      "Chunk key must be 32 bytes",
    );
    expect((await sealUpdate(input(delta(10)))).chunks).toHaveLength(1);
  });
});
