import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { SECRET_FILE_MODE } from "../../shared/src/config/key-files.js";
import {
  type Identity,
  identityToJson,
  publicIdentity,
  publicIdentityToJson,
} from "../../shared/src/crypto/index.js";

function raw(key: KeyObject, part: "d" | "x"): Uint8Array {
  const value = key.export({ format: "jwk" })[part];
  if (typeof value !== "string") throw new Error(`the key has no JWK "${part}"`);
  return new Uint8Array(Buffer.from(value, "base64url"));
}

/**
 * An identity from OpenSSL's Ed25519 and X25519 (Node's crypto) instead of tweetnacl's
 * JavaScript: the same keys (tweetnacl's signing secret key is the seed followed by the public
 * key, its box secret key the raw X25519 scalar), about a hundred times faster to make, which
 * matters for hundreds of hospitals.
 */
export function nativeIdentity(id: string): Identity {
  const signing = generateKeyPairSync("ed25519");
  const encryption = generateKeyPairSync("x25519");
  const seed = raw(signing.privateKey, "d");
  const signingPublic = raw(signing.publicKey, "x");
  const secretKey = new Uint8Array(64);
  secretKey.set(seed, 0);
  secretKey.set(signingPublic, 32);
  return Object.freeze({
    id,
    signing: Object.freeze({ publicKey: signingPublic, secretKey }),
    encryption: Object.freeze({
      publicKey: raw(encryption.publicKey, "x"),
      secretKey: raw(encryption.privateKey, "d"),
    }),
  });
}

/** Writes a new file (never over an existing one) with `mode` from its first byte, and syncs it. */
async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  const file = await open(path, "wx", mode);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
}

/**
 * The identity files of many hospitals, as `fl keys generate` writes them (`<id>.identity.json`
 * 0600, `<id>.public.json`), but written concurrently: one file after another, each synced, is
 * thousands of fsyncs in a row; concurrent ones share the file system's journal commits.
 */
export async function writeManyIdentityFiles(ids: readonly string[], dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const BATCH = 64;
  for (let i = 0; i < ids.length; i += BATCH)
    await Promise.all(
      ids.slice(i, i + BATCH).flatMap((id) => {
        const identity = nativeIdentity(id);
        return [
          writeNewFile(join(dir, `${id}.identity.json`), identityToJson(identity), SECRET_FILE_MODE),
          writeNewFile(join(dir, `${id}.public.json`), publicIdentityToJson(publicIdentity(identity)), 0o644),
        ];
      }),
    );
}
