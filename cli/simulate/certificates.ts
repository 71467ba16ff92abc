// tsyringe, which @peculiar/x509 uses inside, needs the Reflect metadata API before it loads.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { mkdirSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import * as x509 from "@peculiar/x509";
import { SECRET_FILE_MODE } from "../../shared/src/config/key-files.js";

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
 * Sites issued and written at once: WebCrypto's keys and signatures run on libuv's thread pool and
 * the fsyncs overlap in the disk's queue, where one at a time left both idle (500 sites took 36 s
 * on a loaded machine); a batch bounds the open files and the pending work.
 */
const BATCH = 64;

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
  const filesOf = (name: string, issued: { certPem: string; keyPem: string }) => {
    const paths = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    const files: FileToWrite[] = [
      { path: paths.key, data: `${issued.keyPem}\n`, mode: SECRET_FILE_MODE },
      { path: paths.cert, data: `${issued.certPem}\n`, mode: 0o644 },
    ];
    return { paths, files };
  };
  const ca = join(dir, "ca.crt");
  const coordinator = filesOf("coordinator", await issue("coordinator", "server"));
  const issuedSites: Record<string, KeyAndCertificate> = {};
  // Signing is CPU and writing is disk: a batch is written while the next one is issued.
  let writing = writeFilesAtomic([
    { path: ca, data: `${caCert.toString("pem")}\n`, mode: 0o644 },
    ...coordinator.files,
  ]);
  for (let start = 0; start < sites.length; start += BATCH) {
    const batch = sites.slice(start, start + BATCH);
    const [issued] = await Promise.all([
      Promise.all(
        batch.map(async (site) => ({ site, ...filesOf(join("sites", site), await issue(site, "client")) })),
      ),
      writing,
    ]);
    writing = writeFilesAtomic(issued.flatMap((i) => i.files));
    for (const { site, paths } of issued) issuedSites[site] = paths;
  }
  await writing;
  return { ca, coordinator: coordinator.paths, sites: issuedSites };
}

interface FileToWrite {
  readonly path: string;
  readonly data: string;
  readonly mode: number;
}

/**
 * writeFileAtomic (shared/src/io/atomic-file.ts) for many files at once: each is written to a
 * temp file created with its mode (O_EXCL), fsynced and renamed over its target, all concurrently;
 * then each folder is fsynced once for all its renames rather than once a file.
 */
async function writeFilesAtomic(files: readonly FileToWrite[]): Promise<void> {
  await Promise.all(
    files.map(async ({ path, data, mode }) => {
      const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
      try {
        const handle = await open(tmp, "wx", mode);
        try {
          await handle.writeFile(data, "utf8");
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, path);
      } catch (error) {
        await rm(tmp, { force: true });
        throw error;
      }
    }),
  );
  await Promise.all(
    [...new Set(files.map((f) => dirname(f.path)))].map(async (folder) => {
      const handle = await open(folder, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }),
  );
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}
