/**
 * Sealing and opening throughput of the update encryption (XSalsa20-Poly1305 over 1 MiB chunks)
 * with tweetnacl, the reference, and with libsodium-wrappers (which primitives.ts uses when it
 * loads) on the same chunks.
 */
import { chunkNonce } from "../../shared/src/crypto/index.js";
import { reference } from "../../shared/src/crypto/primitives.js";
import { chunkBytes, DEFAULT_CHUNK_BYTES } from "../../shared/src/weights/index.js";
import { median } from "./split.js";

/** The part of libsodium-wrappers compared with. */
interface Sodium {
  readonly ready: Promise<void>;
  crypto_secretbox_easy(message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  crypto_secretbox_open_easy(ciphertext: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
}

export interface CryptoThroughput {
  readonly bytes: number;
  /** Bytes per second, median of the runs. */
  readonly tweetnacl: { readonly seal: number; readonly open: number };
  readonly libsodium:
    | { readonly seal: number; readonly open: number; readonly identicalCiphertexts: boolean }
    | { readonly unavailable: string };
}

async function loadSodium(): Promise<Sodium | string> {
  try {
    // A variable specifier: the package is optional and has no type declarations of its own.
    const name = "libsodium-wrappers";
    const sodium = ((await import(name)) as { default: Sodium }).default;
    await sodium.ready;
    return sodium;
  } catch {
    return "libsodium-wrappers did not load here";
  }
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

export async function compareCrypto(bytes: number, runs = 3): Promise<CryptoThroughput> {
  const plain = new Uint8Array(bytes);
  for (let i = 0; i < plain.length; i++) plain[i] = (i * 2654435761) >>> 24;
  const key = new Uint8Array(32).fill(9);
  const prefix = "AAAAAAAAAAAAAAAAAAAAAA==";
  const chunks = chunkBytes(plain, DEFAULT_CHUNK_BYTES);
  // tweetnacl itself: encryptChunk runs on libsodium where it loads.
  const nonces = chunks.map((_, i) => chunkNonce(prefix, i));
  const nacl = reference.secretbox;
  const sealed = chunks.map((chunk, i) => nacl.seal(chunk, nonces[i] as Uint8Array, key));
  const tweetnacl = {
    seal: rate(bytes, runs, () => chunks.map((chunk, i) => nacl.seal(chunk, nonces[i] as Uint8Array, key))),
    open: rate(bytes, runs, () => sealed.map((box, i) => nacl.open(box, nonces[i] as Uint8Array, key))),
  };
  const sodium = await loadSodium();
  if (typeof sodium === "string") return { bytes, tweetnacl, libsodium: { unavailable: sodium } };
  const theirs = chunks.map((chunk, i) => sodium.crypto_secretbox_easy(chunk, nonces[i] as Uint8Array, key));
  // The same construction, tag first: the ciphertexts must agree byte for byte.
  const identicalCiphertexts = theirs.every((box, i) =>
    Buffer.from(box).equals(Buffer.from(sealed[i] as Uint8Array)),
  );
  return {
    bytes,
    tweetnacl,
    libsodium: {
      seal: rate(bytes, runs, () =>
        chunks.map((chunk, i) => sodium.crypto_secretbox_easy(chunk, nonces[i] as Uint8Array, key)),
      ),
      open: rate(bytes, runs, () =>
        sealed.map((box, i) => sodium.crypto_secretbox_open_easy(box, nonces[i] as Uint8Array, key)),
      ),
      identicalCiphertexts,
    },
  };
}
