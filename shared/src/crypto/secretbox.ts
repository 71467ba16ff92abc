/**
 * XSalsa20-Poly1305 (nacl.secretbox) for the update chunks. libsodium's WebAssembly build gives
 * the same bytes as tweetnacl 3–4× faster, which is most of an upload's coordinator time; the
 * project's API stays tweetnacl's, and tweetnacl does the work when libsodium cannot load (a
 * runtime without WebAssembly).
 */
import nacl from "tweetnacl";

interface SecretboxImpl {
  readonly name: "libsodium" | "tweetnacl";
  seal(message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** null when the box does not authenticate. */
  open(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null;
}

const tweetnacl: SecretboxImpl = {
  name: "tweetnacl",
  seal: (message, nonce, key) => nacl.secretbox(message, nonce, key),
  open: (box, nonce, key) => nacl.secretbox.open(box, nonce, key),
};

async function loadLibsodium(): Promise<SecretboxImpl | undefined> {
  try {
    const sodium = (await import("libsodium-wrappers")).default;
    await sodium.ready;
    return {
      name: "libsodium",
      seal: (message, nonce, key) => sodium.crypto_secretbox_easy(message, nonce, key),
      open: (box, nonce, key) => {
        try {
          return sodium.crypto_secretbox_open_easy(box, nonce, key);
        } catch {
          // libsodium throws on a forgery; callers expect tweetnacl's null.
          return null;
        }
      },
    };
  } catch {
    return undefined;
  }
}

// Loaded once per thread (worker threads included) before any importer runs.
const fast = await loadLibsodium();

/** The implementation in use: libsodium when it loaded, else tweetnacl. */
export const secretbox: SecretboxImpl = fast ?? tweetnacl;

/** tweetnacl's secretbox, always: the reference the faster one is checked against. */
export const referenceSecretbox: SecretboxImpl = tweetnacl;
