// tsyringe, which @peculiar/x509 uses inside, needs the Reflect metadata API before it loads.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { SECRET_FILE_MODE } from "../../shared/src/config/key-files.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";

/**
 * ECDSA P-256 with SHA-256: small keys, fast to make, and accepted by grpc-js (OpenSSL). The
 * library signs with Node's WebCrypto (globalThis.crypto), the same one that makes the keys here.
 */
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** Where one party's certificate and private key were written. */
export interface KeyAndCertificate {
  readonly cert: string;
  readonly key: string;
}

/** Paths of what writeFederationCertificates wrote. */
export interface FederationTlsFiles {
  readonly ca: string;
  readonly coordinator: KeyAndCertificate;
  readonly sites: Readonly<Record<string, KeyAndCertificate>>;
}

/** The names simulated clients dial the coordinator by. */
const SERVER_NAMES = [
  { type: "dns", value: "localhost" },
  { type: "ip", value: "127.0.0.1" },
  { type: "ip", value: "::1" },
] as const;

/** Longer than any simulation runs; the CA's key is gone, so nothing can be issued or renewed. */
const VALID_DAYS = 365;

/**
 * Issues a throwaway CA and, signed by it, the coordinator's server certificate (for loopback)
 * and one client certificate per site whose common name is the site id (the coordinator checks
 * it against the joining site under mutual TLS). The CA's private key lives only in memory: once
 * this returns nobody can issue another certificate the federation trusts. Private keys are
 * written 0600 from their first byte, certificates 0644.
 */
export async function writeFederationCertificates(
  dir: string,
  sites: readonly string[],
): Promise<FederationTlsFiles> {
  const now = Date.now();
  // An hour's grace before "now" absorbs clocks that differ between processes.
  const notBefore = new Date(now - 3600_000);
  const notAfter = new Date(now + VALID_DAYS * 86400_000);

  const caKeys = await generateKeys();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [`fl simulate CA ${new Date(now).toISOString()}`] }],
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const issue = async (commonName: string, usage: "server" | "client") => {
    const keys = await generateKeys();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ];
    if (usage === "server") {
      extensions.push(new x509.SubjectAlternativeNameExtension([...SERVER_NAMES]));
    }
    const cert = await x509.X509CertificateGenerator.create({
      // A structured name, so no character of an id can be read as DN syntax.
      subject: [{ CN: [commonName] }],
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions,
    });
    const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
    return { certPem: cert.toString("pem"), keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") };
  };

  mkdirSync(join(dir, "sites"), { recursive: true, mode: 0o700 });
  const write = (name: string, issued: { certPem: string; keyPem: string }): KeyAndCertificate => {
    const paths = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    writeFileAtomic(paths.key, `${issued.keyPem}\n`, { mode: SECRET_FILE_MODE });
    writeFileAtomic(paths.cert, `${issued.certPem}\n`, { mode: 0o644 });
    return paths;
  };
  const ca = join(dir, "ca.crt");
  writeFileAtomic(ca, `${caCert.toString("pem")}\n`, { mode: 0o644 });
  const coordinator = write("coordinator", await issue("coordinator", "server"));
  const issuedSites: Record<string, KeyAndCertificate> = {};
  for (const site of sites) issuedSites[site] = write(join("sites", site), await issue(site, "client"));
  return { ca, coordinator, sites: issuedSites };
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}
