/**
 * Sealing and opening throughput of the update encryption (XSalsa20-Poly1305 over 1 MiB chunks)
 * with tweetnacl, the reference, and with libsodium-wrappers (which primitives.ts uses when it
 * loads) on the same chunks.
 */
import { chunkNonce } from "../../shared/src/crypto/index.js";
import { reference, secretbox } from "../../shared/src/crypto/primitives.js";
import { chunkBytes, DEFAULT_CHUNK_BYTES } from "../../shared/src/weights/index.js";
import { median } from "./split.js";

export interface CryptoThroughput {
  readonly bytes: number;
  /** Bytes per second, median of the runs. */
  readonly tweetnacl: { readonly seal: number; readonly open: number };
  readonly libsodium:
    | { readonly seal: number; readonly open: number; readonly identicalCiphertexts: boolean }
    | { readonly unavailable: string };
}

function rate(bytes: number, runs: number, work: () => unknown): number {
  work();
  const times = Array.from({ length: runs }, () => {
    const start = performance.now();
    work();
    return performance.now() - start;
  });
  return (bytes / median(times)) * 1000;
}

/** Seal and open rates of one implementation over the chunks, and what it sealed. */
function throughput(
  box: typeof secretbox,
  chunks: readonly Uint8Array[],
  nonces: readonly Uint8Array[],
  key: Uint8Array,
  runs: number,
) {
  const bytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const sealed = chunks.map((chunk, i) => box.seal(chunk, nonces[i] as Uint8Array, key));
  return {
    sealed,
    seal: rate(bytes, runs, () => chunks.map((chunk, i) => box.seal(chunk, nonces[i] as Uint8Array, key))),
    open: rate(bytes, runs, () => sealed.map((b, i) => box.open(b, nonces[i] as Uint8Array, key))),
  };
}

export function compareCrypto(bytes: number, runs = 3): CryptoThroughput {
  const plain = new Uint8Array(bytes);
  for (let i = 0; i < plain.length; i++) plain[i] = (i * 2654435761) >>> 24;
  const key = new Uint8Array(32).fill(9);
  const prefix = "AAAAAAAAAAAAAAAAAAAAAA==";
  const chunks = chunkBytes(plain, DEFAULT_CHUNK_BYTES);
  const nonces = chunks.map((_, i) => chunkNonce(prefix, i));
  const tweetnacl = throughput(reference.secretbox, chunks, nonces, key, runs);
  const rates = { seal: tweetnacl.seal, open: tweetnacl.open };
  if (secretbox.name !== "libsodium")
    return { bytes, tweetnacl: rates, libsodium: { unavailable: "libsodium-wrappers did not load here" } };
  const libsodium = throughput(secretbox, chunks, nonces, key, runs);
  return {
    bytes,
    tweetnacl: rates,
    libsodium: {
      seal: libsodium.seal,
      open: libsodium.open,
      // The same construction, tag first: the ciphertexts must agree byte for byte.
      identicalCiphertexts: libsodium.sealed.every((box, i) =>
        Buffer.from(box).equals(Buffer.from(tweetnacl.sealed[i] as Uint8Array)),
      ),
    },
  };
}
