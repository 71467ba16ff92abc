/**
 * The enrolment request a hospital sends to the operator: its public identity and a certificate
 * signing request for its TLS key, both made at the hospital. Only public material is in it; the
 * two private keys never leave the hospital.
 */
// tsyringe, which @peculiar/x509 uses inside, needs the Reflect metadata API before it loads.
import "reflect-metadata";
import { createHash, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import nacl from "tweetnacl";
import { z } from "zod";
import {
  type Identity,
  keyFingerprint,
  type PublicIdentity,
  publicIdentity,
  publicIdentityFromJson,
  publicIdentityToJson,
} from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";

/** ECDSA P-256 with SHA-256, as deploy/tls/make-certs.sh uses: accepted by grpc-js (OpenSSL). */
export const TLS_ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

const REQUEST_FORMAT = "fl-site-request/v1";

const RequestFileSchema = z
  .object({
    format: z.literal(REQUEST_FORMAT),
    id: z.string(),
    identity: z.record(z.string(), z.unknown()),
    csr: z.string(),
    /** Ed25519 signature by the identity over the CSR (see bindingMessage), base64. */
    identitySignature: z.string(),
  })
  .strict();

/** A request whose CSR and identity signatures were checked. */
export interface VerifiedRequest {
  readonly identity: PublicIdentity;
  readonly csr: x509.Pkcs10CertificateRequest;
  /** keyFingerprint of the CSR's public key (DER SubjectPublicKeyInfo). */
  readonly tlsKeyFingerprint: string;
}

/**
 * What the identity signs: the CSR's hash, so that a CSR swapped for another key on the way (even
 * one validly self-signed) does not verify against the identity the hospital read out.
 */
function bindingMessage(id: string, csrDer: ArrayBuffer): Uint8Array {
  const digest = createHash("sha256").update(Buffer.from(csrDer)).digest("hex");
  return Buffer.from(`${REQUEST_FORMAT}\n${id}\n${digest}`, "utf8");
}

/** A new TLS key (PKCS#8 PEM, secret) and the request file's text (public) for `identity`. */
export async function createSiteRequest(
  identity: Identity,
): Promise<{ tlsKeyPem: string; requestJson: string; tlsKeyFingerprint: string }> {
  const keys = await webcrypto.subtle.generateKey(TLS_ALGORITHM, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // A structured name, so no character of an id can be read as DN syntax.
    name: [{ CN: [identity.id] }],
    keys,
    signingAlgorithm: TLS_ALGORITHM,
  });
  const signature = nacl.sign.detached(bindingMessage(identity.id, csr.rawData), identity.signing.secretKey);
  const request = {
    format: REQUEST_FORMAT,
    id: identity.id,
    identity: JSON.parse(publicIdentityToJson(publicIdentity(identity))) as unknown,
    csr: csr.toString("pem"),
    identitySignature: Buffer.from(signature).toString("base64"),
  };
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    tlsKeyPem: `${x509.PemConverter.encode(pkcs8, "PRIVATE KEY")}\n`,
    requestJson: `${JSON.stringify(request, null, 2)}\n`,
    tlsKeyFingerprint: keyFingerprint(new Uint8Array(csr.publicKey.rawData)),
  };
}

/**
 * Parses and checks a request file: well formed, the CSR self-signed by its key and issued to the
 * request's id, and the identity's signature over the CSR valid. Throws naming the file and what
 * to ask the hospital for.
 */
export async function verifySiteRequest(text: string, source: string): Promise<VerifiedRequest> {
  const again = "ask the hospital to run 'fl keys request' again and send the new request file";
  const fail = (what: string, cause?: unknown) =>
    new FlError(
      ErrorCode.InvalidConfig,
      `request ${source}: ${what}; ${again}`,
      cause ? { cause } : undefined,
    );
  let parsed: z.infer<typeof RequestFileSchema>;
  try {
    parsed = RequestFileSchema.parse(JSON.parse(text));
  } catch (error) {
    throw fail(`is not a request file written by 'fl keys request' (${errorMessage(error)})`, error);
  }
  const identity = publicIdentityFromJson(JSON.stringify(parsed.identity), `${source} (identity)`);
  if (identity.id !== parsed.id)
    throw fail(`names site "${parsed.id}" but holds the identity of "${identity.id}"`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(parsed.csr);
  } catch (error) {
    throw fail(`its csr is not a PEM certificate signing request (${errorMessage(error)})`, error);
  }
  const commonNames = csr.subjectName.getField("CN");
  if (commonNames.length !== 1 || commonNames[0] !== parsed.id)
    throw fail(`its csr is for "${csr.subject}", not CN=${parsed.id}`);
  if (!(await csr.verify()))
    throw fail("the csr's signature does not match its public key: it was altered after it was made");
  const signature = Buffer.from(parsed.identitySignature, "base64");
  if (
    signature.length !== nacl.sign.signatureLength ||
    !nacl.sign.detached.verify(bindingMessage(parsed.id, csr.rawData), signature, identity.signingPublicKey)
  )
    throw fail(
      `its csr is not signed by the identity of ${parsed.id}: the TLS key in it is not the one this identity's holder made (replaced on the way?)`,
    );
  return { identity, csr, tlsKeyFingerprint: keyFingerprint(new Uint8Array(csr.publicKey.rawData)) };
}
