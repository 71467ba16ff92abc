import nacl from "tweetnacl";
import { ErrorCode, FlError } from "../errors.js";
import { bytesEqual, fromBase64, toBase64 } from "./encoding.js";
import { IDENTITY_ID_PATTERN, type Identity, type PublicIdentity } from "./keys.js";
import { signing, x25519 } from "./primitives.js";

/** `kind` of a file holding a full identity (secret keys included). */
export const IDENTITY_KIND = "fl-identity";
/** `kind` of a file holding only public keys (what a site hands to the coordinator's operator). */
export const PUBLIC_IDENTITY_KIND = "fl-public-identity";
const VERSION = 1;

/** Pretty JSON with base64 keys. Contains secret keys: write it with mode 0600 and never log it. */
export function identityToJson(identity: Identity): string {
  const document = {
    kind: IDENTITY_KIND,
    version: VERSION,
    id: identity.id,
    signingPublicKey: toBase64(identity.signing.publicKey),
    signingSecretKey: toBase64(identity.signing.secretKey),
    encryptionPublicKey: toBase64(identity.encryption.publicKey),
    encryptionSecretKey: toBase64(identity.encryption.secretKey),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/**
 * Parses identityToJson output. Checks key lengths and that each public key belongs to its
 * secret key. Throws FlError(InvalidConfig) naming the field and `source` (usually the file path).
 */
export function identityFromJson(text: string, source?: string): Identity {
  const reader = new DocumentReader(text, describeSource("identity", source), IDENTITY_KIND);
  const id = reader.id();
  const signingPublicKey = reader.key("signingPublicKey", nacl.sign.publicKeyLength);
  const signingSecretKey = reader.key("signingSecretKey", nacl.sign.secretKeyLength);
  const encryptionPublicKey = reader.key("encryptionPublicKey", nacl.box.publicKeyLength);
  const encryptionSecretKey = reader.key("encryptionSecretKey", nacl.box.secretKeyLength);

  const derivedSigning = signing.keyPairFromSeed(signingSecretKey.subarray(0, nacl.sign.seedLength));
  if (!bytesEqual(derivedSigning.secretKey, signingSecretKey)) {
    throw reader.error("signingSecretKey", "is corrupt (its embedded public key does not match its seed)");
  }
  if (!bytesEqual(derivedSigning.publicKey, signingPublicKey)) {
    throw reader.error("signingPublicKey", "does not belong to signingSecretKey");
  }
  if (!bytesEqual(x25519.scalarMultBase(encryptionSecretKey), encryptionPublicKey)) {
    throw reader.error("encryptionPublicKey", "does not belong to encryptionSecretKey");
  }
  return Object.freeze({
    id,
    signing: Object.freeze({ publicKey: signingPublicKey, secretKey: signingSecretKey }),
    encryption: Object.freeze({ publicKey: encryptionPublicKey, secretKey: encryptionSecretKey }),
  });
}

export function publicIdentityToJson(identity: PublicIdentity): string {
  const document = {
    kind: PUBLIC_IDENTITY_KIND,
    version: VERSION,
    id: identity.id,
    signingPublicKey: toBase64(identity.signingPublicKey),
    encryptionPublicKey: toBase64(identity.encryptionPublicKey),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Parses publicIdentityToJson output; FlError(InvalidConfig) naming the field and `source`. */
export function publicIdentityFromJson(text: string, source?: string): PublicIdentity {
  const reader = new DocumentReader(text, describeSource("public identity", source), PUBLIC_IDENTITY_KIND);
  const id = reader.id();
  const signingPublicKey = reader.key("signingPublicKey", nacl.sign.publicKeyLength);
  const encryptionPublicKey = reader.key("encryptionPublicKey", nacl.box.publicKeyLength);
  return Object.freeze({ id, signingPublicKey, encryptionPublicKey });
}

function describeSource(what: string, source: string | undefined): string {
  return source === undefined ? `${what} JSON` : `${what} file ${source}`;
}

/** Field-by-field validation with messages that name the file and the field. */
class DocumentReader {
  private readonly document: Record<string, unknown>;

  constructor(
    text: string,
    private readonly label: string,
    kind: string,
  ) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw this.fail(`is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw this.fail("must contain a JSON object");
    }
    this.document = parsed as Record<string, unknown>;
    const actualKind = this.document.kind;
    if (actualKind !== kind) {
      const hint =
        actualKind === PUBLIC_IDENTITY_KIND
          ? "; this is a public identity file, but the full identity with secret keys is needed here"
          : actualKind === IDENTITY_KIND
            ? "; this file holds secret keys, give the public identity file instead"
            : "";
      throw this.error("kind", `must be "${kind}", got ${JSON.stringify(actualKind)}${hint}`);
    }
    if (this.document.version !== VERSION) {
      throw this.error("version", `must be ${VERSION}, got ${JSON.stringify(this.document.version)}`);
    }
  }

  id(): string {
    const id = this.document.id;
    if (typeof id !== "string" || !IDENTITY_ID_PATTERN.test(id)) {
      throw this.error(
        "id",
        `must be 1-63 characters from a-z, 0-9, ".", "_", "-" starting with a letter or digit, got ${JSON.stringify(id)}`,
      );
    }
    return id;
  }

  key(field: string, length: number): Uint8Array {
    const value = this.document[field];
    if (typeof value !== "string") throw this.error(field, "is missing or not a string");
    const bytes = fromBase64(value);
    if (bytes === undefined) throw this.error(field, "is not valid base64");
    if (bytes.length !== length)
      throw this.error(field, `must decode to ${length} bytes, got ${bytes.length}`);
    return bytes;
  }

  error(field: string, problem: string): FlError {
    return this.fail(`field "${field}" ${problem}`);
  }

  private fail(problem: string): FlError {
    return new FlError(ErrorCode.InvalidConfig, `Invalid ${this.label}: ${problem}`);
  }
}
