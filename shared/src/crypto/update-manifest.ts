import nacl from "tweetnacl";
import { ErrorCode, FlError } from "../errors.js";
import { canonicalJson } from "./canonical-json.js";
import { fromBase64 } from "./encoding.js";
import { IDENTITY_ID_PATTERN, type Identity, type PublicIdentity } from "./keys.js";
import { signing } from "./primitives.js";

/**
 * What a site says about one uploaded update. Signed by the site; the coordinator checks every
 * field against the open round before it accepts the (encrypted) payload.
 */
export interface UpdateManifest {
  readonly federationId: string;
  /** Must equal the signer's identity id. */
  readonly siteId: string;
  readonly round: number;
  /** Version of the global model the update was trained from. */
  readonly modelVersion: number;
  readonly taskId: string;
  /** Random and unique per upload: a second upload with a seen id is a replay. */
  readonly uploadId: string;
  /** Base64 of 16 random bytes, fresh per upload: the first part of every chunk nonce. */
  readonly noncePrefix: string;
  /** Lower-case hex SHA-256 of the plaintext payload (all chunks concatenated). */
  readonly contentSha256: string;
  readonly plaintextBytes: number;
  readonly numChunks: number;
  /** Training examples behind the update (>= 1): its FedAvg weight. */
  readonly numExamples: number;
  readonly createdAtMs: number;
}

type FieldCheck = (value: unknown) => string | undefined;

const nonEmptyString: FieldCheck = (value) =>
  typeof value === "string" && value.length > 0 ? undefined : "must be a non-empty string";
const count: FieldCheck = (value) =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0
    ? undefined
    : "must be a non-negative integer";

/** The signed fields, in a fixed list: extra properties on the object are never signed. */
const positive: FieldCheck = (value) =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 1
    ? undefined
    : "must be an integer >= 1";

const FIELDS: Readonly<Record<keyof UpdateManifest, FieldCheck>> = {
  federationId: nonEmptyString,
  siteId: (value) =>
    typeof value === "string" && IDENTITY_ID_PATTERN.test(value) ? undefined : "must be a valid site id",
  round: count,
  modelVersion: count,
  taskId: nonEmptyString,
  uploadId: nonEmptyString,
  noncePrefix: (value) =>
    typeof value === "string" && fromBase64(value)?.length === 16 ? undefined : "must be base64 of 16 bytes",
  contentSha256: (value) =>
    typeof value === "string" && /^[0-9a-f]{64}$/.test(value)
      ? undefined
      : "must be 64 lower-case hex digits",
  plaintextBytes: count,
  numChunks: count,
  numExamples: positive,
  createdAtMs: count,
};
const FIELD_NAMES = Object.keys(FIELDS) as (keyof UpdateManifest)[];

const MANIFEST_DOMAIN = new TextEncoder().encode("fl.v1/update-manifest\0");

/**
 * Checks every field's type and format and returns a copy holding only the manifest fields.
 * FlError(InvalidArgument) names the first bad field. Use it on manifests that came off the wire.
 */
export function validateUpdateManifest(value: unknown): UpdateManifest {
  if (typeof value !== "object" || value === null) {
    throw new FlError(ErrorCode.InvalidArgument, "Update manifest must be an object");
  }
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of FIELD_NAMES) {
    const problem = FIELDS[name](record[name]);
    if (problem !== undefined) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Update manifest field "${name}" ${problem}, got ${JSON.stringify(record[name]) ?? "undefined"}`,
      );
    }
    out[name] = record[name];
  }
  return Object.freeze(out) as unknown as UpdateManifest;
}

/** The exact bytes signed: a domain tag, then the canonical JSON of the manifest fields. */
export function manifestSigningBytes(manifest: UpdateManifest): Uint8Array {
  const body = canonicalJson(validateUpdateManifest(manifest));
  const out = new Uint8Array(MANIFEST_DOMAIN.length + body.length);
  out.set(MANIFEST_DOMAIN, 0);
  out.set(body, MANIFEST_DOMAIN.length);
  return out;
}

/** Ed25519 signature of the manifest. A site may only sign manifests that carry its own id. */
export function signManifest(manifest: UpdateManifest, identity: Identity): Uint8Array {
  if (manifest.siteId !== identity.id) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `Site "${identity.id}" cannot sign a manifest for site "${manifest.siteId}"`,
    );
  }
  return signing.sign(manifestSigningBytes(manifest), identity.signing.secretKey);
}

/**
 * True only when `signature` is `signer`'s signature over exactly these field values and the
 * manifest's siteId is the signer's id. Malformed input gives false; it never throws.
 */
export function verifyManifest(
  manifest: UpdateManifest,
  signature: Uint8Array,
  signer: PublicIdentity,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== nacl.sign.signatureLength) return false;
  if (
    !(signer.signingPublicKey instanceof Uint8Array) ||
    signer.signingPublicKey.length !== nacl.sign.publicKeyLength
  ) {
    return false;
  }
  if (typeof manifest !== "object" || manifest === null || manifest.siteId !== signer.id) return false;
  let message: Uint8Array;
  try {
    message = manifestSigningBytes(manifest);
  } catch {
    return false;
  }
  return signing.verify(message, signature, signer.signingPublicKey);
}
