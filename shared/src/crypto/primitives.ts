/**
 * The NaCl primitives the protocol runs on: XSalsa20-Poly1305 (secretbox) for the update
 * chunks, Ed25519 for every signature (joins, session statements, update manifests) and X25519
 * for key agreement. libsodium's WebAssembly build gives the same bytes as tweetnacl, 3–4×
 * faster for secretbox and far faster for Ed25519 and X25519, which tweetnacl does in pure
 * JavaScript field arithmetic (the signatures were most of the CPU of 500 virtual hospitals
 * joining, on both sides). The project's API stays tweetnacl's and its key formats (a 64-byte
 * Ed25519 secret key is seed ‖ public key in both); tweetnacl does the work when libsodium
 * cannot load (a runtime without WebAssembly).
 */
import nacl from "tweetnacl";

interface SecretboxImpl {
  readonly name: "libsodium" | "tweetnacl";
  seal(message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** null when the box does not authenticate. */
  open(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null;
}

interface SigningImpl {
  readonly name: "libsodium" | "tweetnacl";
  /** A 64-byte detached signature with a 64-byte secret key (seed ‖ public key). */
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** Lengths are the caller's to check: a wrong one is simply false. */
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
  keyPairFromSeed(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
}

interface X25519Impl {
  readonly name: "libsodium" | "tweetnacl";
  /** The raw shared point; all zeros for a small-order public key, as tweetnacl gives it. */
  scalarMult(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  scalarMultBase(secretKey: Uint8Array): Uint8Array;
  /** nacl.box.before: HSalsa20 of the shared point, the key a nacl.box pair shares. */
  boxBefore(theirPublicKey: Uint8Array, mySecretKey: Uint8Array): Uint8Array;
}

interface Primitives {
  readonly secretbox: SecretboxImpl;
  readonly signing: SigningImpl;
  readonly x25519: X25519Impl;
}

/** An exception as the plain answer the API promises: a forgery or a bad length is null or false. */
function orElse<T>(fallback: T, work: () => T): T {
  try {
    return work();
  } catch {
    return fallback;
  }
}

const tweetnacl: Primitives = {
  secretbox: {
    name: "tweetnacl",
    seal: (message, nonce, key) => nacl.secretbox(message, nonce, key),
    open: (box, nonce, key) => nacl.secretbox.open(box, nonce, key),
  },
  signing: {
    name: "tweetnacl",
    sign: (message, secretKey) => nacl.sign.detached(message, secretKey),
    // tweetnacl throws on a wrong length; the contract is false.
    verify: (message, signature, publicKey) =>
      orElse(false, () => nacl.sign.detached.verify(message, signature, publicKey)),
    keyPairFromSeed: (seed) => nacl.sign.keyPair.fromSeed(seed),
  },
  x25519: {
    name: "tweetnacl",
    scalarMult: (secretKey, publicKey) => nacl.scalarMult(secretKey, publicKey),
    scalarMultBase: (secretKey) => nacl.scalarMult.base(secretKey),
    boxBefore: (theirPublicKey, mySecretKey) => nacl.box.before(theirPublicKey, mySecretKey),
  },
};

async function loadLibsodium(): Promise<Primitives | undefined> {
  try {
    const sodium = (await import("libsodium-wrappers")).default;
    await sodium.ready;
    return {
      secretbox: {
        name: "libsodium",
        seal: (message, nonce, key) => sodium.crypto_secretbox_easy(message, nonce, key),
        open: (box, nonce, key) => orElse(null, () => sodium.crypto_secretbox_open_easy(box, nonce, key)),
      },
      signing: {
        name: "libsodium",
        sign: (message, secretKey) => sodium.crypto_sign_detached(message, secretKey),
        verify: (message, signature, publicKey) =>
          orElse(false, () => sodium.crypto_sign_verify_detached(signature, message, publicKey)),
        keyPairFromSeed: (seed) => {
          const pair = sodium.crypto_sign_seed_keypair(seed);
          return { publicKey: pair.publicKey, secretKey: pair.privateKey };
        },
      },
      x25519: {
        name: "libsodium",
        // libsodium refuses a small-order point's all-zero result; tweetnacl returns it, and
        // callers check for it (chunk-box.ts sharedKey).
        scalarMult: (secretKey, publicKey) =>
          orElse(new Uint8Array(32), () => sodium.crypto_scalarmult(secretKey, publicKey)),
        scalarMultBase: (secretKey) => sodium.crypto_scalarmult_base(secretKey),
        boxBefore: (theirPublicKey, mySecretKey) => sodium.crypto_box_beforenm(theirPublicKey, mySecretKey),
      },
    };
  } catch {
    return undefined;
  }
}

// Loaded once per thread (worker threads included) before any importer runs.
const fast = (await loadLibsodium()) ?? tweetnacl;

/** The implementations in use: libsodium when it loaded, else tweetnacl. */
export const inUse: Primitives = fast;
export const { secretbox, signing, x25519 } = fast;

/** tweetnacl's, always: the reference the faster ones are checked against. */
export const reference: Primitives = tweetnacl;
