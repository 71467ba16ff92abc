/**
 * The operator's side of provisioning: sign each hospital's CSR with the federation CA, enrol its
 * public identity and write its start-up kit. Nothing here ever sees a hospital's private key.
 */
// tsyringe, which @peculiar/x509 uses inside, needs the Reflect metadata API before it loads.
import "reflect-metadata";
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import YAML from "yaml";
import { readPublicIdentityFile } from "../../shared/src/config/key-files.js";
import { readConfigFile, readTextFile } from "../../shared/src/config/load.js";
import { type PublicIdentity, publicIdentityToJson } from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import { type DataConfig, resolveDataConfig } from "../../shared/src/ml/data/config-schema.js";
import { TLS_ALGORITHM, type VerifiedRequest } from "./request.js";

export interface FederationCa {
  readonly cert: x509.X509Certificate;
  readonly certPem: string;
  readonly key: webcrypto.CryptoKey;
}

/** Reads ca.crt and ca.key as deploy/tls/make-certs.sh writes them, and checks they belong together. */
export async function readCa(dir: string): Promise<FederationCa> {
  const certPem = readTextFile(
    join(dir, "ca.crt"),
    "CA certificate",
    "Make one with deploy/tls/make-certs.sh.",
  );
  const keyPem = readTextFile(join(dir, "ca.key"), "CA key", "Make one with deploy/tls/make-certs.sh.");
  const bad = (what: string, cause?: unknown) =>
    new FlError(ErrorCode.InvalidConfig, `--ca ${dir}: ${what}`, cause ? { cause } : undefined);
  let cert: x509.X509Certificate;
  let nodeKey: ReturnType<typeof createPrivateKey>;
  try {
    cert = new x509.X509Certificate(certPem);
    nodeKey = createPrivateKey(keyPem);
  } catch (error) {
    throw bad(`ca.crt or ca.key is not PEM (${errorMessage(error)})`, error);
  }
  if (nodeKey.asymmetricKeyType !== "ec" || nodeKey.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    throw bad("ca.key is not an ECDSA P-256 key (the kind deploy/tls/make-certs.sh makes)");
  const spki = createPublicKey(nodeKey).export({ format: "der", type: "spki" });
  if (!spki.equals(Buffer.from(cert.publicKey.rawData)))
    throw bad("ca.key is not the key of ca.crt: give the folder holding the pair that belongs together");
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) throw bad("ca.crt is not a CA certificate (basicConstraints CA:TRUE)");
  const key = await webcrypto.subtle.importKey(
    "pkcs8",
    nodeKey.export({ format: "der", type: "pkcs8" }),
    TLS_ALGORITHM,
    false,
    ["sign"],
  );
  return { cert, certPem: certPem.trim(), key };
}

/**
 * A client certificate for the CSR's key, as make-certs.sh issues one: CN and DNS SAN = site id,
 * clientAuth, digitalSignature, random positive 128-bit serial.
 */
export async function issueClientCertificate(
  ca: FederationCa,
  request: VerifiedRequest,
  days: number,
): Promise<string> {
  const now = Date.now();
  const serial = randomBytes(16);
  // A leading 0 bit keeps the DER INTEGER positive, as RFC 5280 asks.
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString("hex"),
    subject: [{ CN: [request.identity.id] }],
    issuer: ca.cert.subject,
    // An hour's grace absorbs clocks that differ between the operator and the coordinator.
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + days * 86400_000),
    publicKey: request.csr.publicKey,
    signingKey: ca.key,
    signingAlgorithm: TLS_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: request.identity.id }]),
      await x509.SubjectKeyIdentifierExtension.create(request.csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return cert.toString("pem");
}

/**
 * "new" when sitesDir has no file for this id, "same" when it already enrols these keys; throws
 * when it enrols other keys under the id, which only the operator can decide to replace.
 */
export function enrolmentState(sitesDir: string, site: PublicIdentity): "new" | "same" {
  const path = join(sitesDir, `${site.id}.public.json`);
  if (!existsSync(path)) return "new";
  const enrolled = readPublicIdentityFile(path);
  const same =
    Buffer.from(enrolled.signingPublicKey).equals(Buffer.from(site.signingPublicKey)) &&
    Buffer.from(enrolled.encryptionPublicKey).equals(Buffer.from(site.encryptionPublicKey));
  if (same) return "same";
  throw new FlError(
    ErrorCode.InvalidConfig,
    `${path} already enrols ${site.id} with another key: nothing was written. If the hospital really replaced its keys, revoke the old one (fl sites revoke ${site.id}) and remove ${path}, then provision again`,
  );
}

/** The CA folder's copy of a certificate it issued, as make-certs.sh keeps <id>.crt next to ca.crt. */
export function keepIssuedCertificate(caDir: string, id: string, certPem: string): void {
  writeFileAtomic(join(caDir, `${id}.crt`), `${certPem.trim()}\n`, { mode: 0o644 });
}

export function enrol(sitesDir: string, site: PublicIdentity): void {
  mkdirSync(sitesDir, { recursive: true });
  writeFileAtomic(join(sitesDir, `${site.id}.public.json`), publicIdentityToJson(site), { mode: 0o644 });
}

export interface KitSettings {
  readonly federationId: string;
  readonly coordinator: string;
  readonly coordinatorPublicKeyFile: string;
  /** The `data:` section every kit gets (`--data`); without it a placeholder the hospital edits. */
  readonly data?: Readonly<Record<string, unknown>>;
  /** The kit's `workDir:` as the hospital's client sees it (`--work-dir`); default ./work. */
  readonly workDir?: string;
}

/**
 * Reads `--data`: a YAML or JSON data section, or a config holding one under `data:` (such as a
 * client.yaml), checked by the data module's own schema so that a typo fails here, once, rather
 * than at every hospital's start.
 */
export function readKitData(file: string): Record<string, unknown> {
  const raw = readConfigFile(file);
  const section = raw && typeof raw === "object" && "data" in raw ? (raw as { data: unknown }).data : raw;
  if (!section || typeof section !== "object" || Array.isArray(section))
    throw new FlError(
      ErrorCode.InvalidConfig,
      `--data ${file}: not a data section (a mapping such as {kind: siim, root: /data, siteColumn: site}); see docs/data.md`,
    );
  try {
    resolveDataConfig(section as DataConfig);
  } catch (error) {
    throw new FlError(ErrorCode.InvalidConfig, `--data ${file}: ${errorMessage(error)}`, { cause: error });
  }
  return section as Record<string, unknown>;
}

/** Pure: the kit's client.yaml. */
export function kitClientYaml(id: string, settings: KitSettings): string {
  // JSON strings are YAML strings, so no id or address can change the document's structure.
  const q = JSON.stringify;
  const data = settings.data
    ? `# Where this hospital's images are (given to fl provision with --data; docs/data.md).
${YAML.stringify({ data: settings.data }).replace(/\n$/, "")}`
    : `# EDIT: where this hospital's images and labels are (docs/data.md).
data:
  kind: folder
  root: /path/to/this/hospitals/xrays
  labels: labels.csv`;
  return `# Start-up kit of ${id} for federation ${settings.federationId}, written by fl provision.
# Paths are relative to this file. See README.txt.
siteId: ${q(id)}
federationId: ${q(settings.federationId)}
coordinator: ${q(settings.coordinator)}
# The identity and TLS key this hospital generated with 'fl keys request'; they are not in the kit.
identity: ${q(`./${id}.identity.json`)}
coordinatorPublicKey: ./coordinator.public.json
tls:
  ca: ./ca.crt
  cert: ${q(`./${id}.crt`)}
  key: ${q(`./${id}.tls.key`)}
${data}
workDir: ${q(settings.workDir ?? "./work")}
`;
}

/** Writes <outDir>/<id>/ and returns its path: certificates, the coordinator's key, client.yaml, README.txt. */
export function writeKit(
  outDir: string,
  ca: FederationCa,
  site: PublicIdentity,
  certPem: string,
  settings: KitSettings,
): string {
  const id = site.id;
  const dir = join(outDir, id);
  mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string) => writeFileAtomic(join(dir, name), text, { mode: 0o644 });
  write("ca.crt", `${ca.certPem}\n`);
  write(`${id}.crt`, `${certPem.trim()}\n`);
  write("coordinator.public.json", readFileSync(settings.coordinatorPublicKeyFile, "utf8"));
  write("client.yaml", kitClientYaml(id, settings));
  write(
    "README.txt",
    `Start-up kit for ${id} (federation ${settings.federationId}, coordinator ${settings.coordinator})

This folder holds only public material: the federation CA (ca.crt), this hospital's client
certificate (${id}.crt), the coordinator's public key (coordinator.public.json) and a client
config (client.yaml). The private keys are the ones this hospital made with
'fl keys request --id ${id}'; nobody else has them.

1. Copy every file of this folder into the folder where 'fl keys request' wrote
   ${id}.identity.json and ${id}.tls.key (keep those two mode 600).
2. Compare the fingerprints: 'fl keys fingerprint coordinator.public.json' must print what the
   federation operator reads out to you for the coordinator.
3. ${settings.data ? "Check" : "Edit"} the data: section of client.yaml${settings.data ? " (it names where the client finds this hospital's images)" : " to point at this hospital's images (docs/data.md)"}, and
   check it with 'fl data inspect --config client.yaml'.
4. Start the client: fl client --config client.yaml
`,
  );
  return dir;
}
