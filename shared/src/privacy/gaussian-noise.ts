import { randomFillSync } from "node:crypto";

/** A source of uniform bits; the default is the operating system's CSPRNG. */
export type RandomBytes = (out: Uint32Array) => void;

const cryptoBytes: RandomBytes = (out) => {
  randomFillSync(out);
};

/**
 * Fills `out` with N(0, std²) samples drawn from a cryptographic RNG, by the Box–Muller
 * transform on 53-bit uniforms. Differential privacy's guarantee assumes the noise is
 * unpredictable to the party it hides the data from, which a seeded PRNG (Math.random, the
 * project's training Rng) is not. Floating-point sampling leaves the tiny artefacts that Mironov
 * 2012 showed for the Laplace mechanism; the 53-bit uniforms keep them far below the
 * quantisation of the float32 weights the noise is added to.
 */
export function gaussianNoise(
  out: Float64Array | Float32Array,
  std: number,
  random: RandomBytes = cryptoBytes,
): void {
  if (!(std >= 0) || !Number.isFinite(std)) throw new RangeError(`noise std ${std} must be finite and ≥ 0`);
  const block = new Uint32Array(4096);
  let used = block.length;
  const uniform = (): number => {
    if (used + 2 > block.length) {
      random(block);
      used = 0;
    }
    const high = (block[used++] as number) >>> 5; // 27 bits
    const low = (block[used++] as number) >>> 6; // 26 bits
    // (0, 1]: never 0, so the logarithm below is finite.
    return (high * 67108864 + low + 1) / 9007199254740992;
  };
  for (let i = 0; i < out.length; i += 2) {
    const radius = std * Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = radius * Math.sin(angle);
  }
}

/** Adds N(0, std²) noise to every value in place. */
export function addGaussianNoise(values: Float32Array, std: number, random?: RandomBytes): void {
  const noise = new Float64Array(values.length);
  gaussianNoise(noise, std, random);
  for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) + (noise[i] as number);
}
