import { createPrivateKey, X509Certificate } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { writeFederationCertificates } from "../../../cli/simulate/certificates.js";

// More sites than one batch of the concurrent issuing (64), and a last batch that is not full.
const SITES = Array.from({ length: 100 }, (_, i) => `site-${i + 1}`);
let dir: string | undefined;

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("issues every site of many its own certificate and key, under its own name, and leaves no temp file", async () => {
  dir = await mkdtemp(join(tmpdir(), "fl-sim-tls-many-"));
  const files = await writeFederationCertificates(join(dir, "run"), SITES);
  const ca = new X509Certificate(readFileSync(files.ca));
  expect(Object.keys(files.sites).sort()).toEqual([...SITES].sort());
  const publicKeys = new Set<string>();
  for (const site of SITES) {
    const paths = files.sites[site];
    expect(paths).toEqual({
      cert: join(dir, "run", "sites", `${site}.crt`),
      key: join(dir, "run", "sites", `${site}.key`),
    });
    const cert = new X509Certificate(readFileSync(paths?.cert as string));
    expect(cert.subject).toBe(`CN=${site}`);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(paths?.key as string)))).toBe(true);
    expect((statSync(paths?.key as string).mode & 0o777).toString(8)).toBe("600");
    publicKeys.add(cert.publicKey.export({ type: "spki", format: "der" }).toString("hex"));
  }
  expect(publicKeys.size).toBe(SITES.length);
  const written = readdirSync(join(dir, "run", "sites"));
  expect(written).toHaveLength(2 * SITES.length);
  expect(written.filter((name) => name.startsWith("."))).toEqual([]);
  expect(readFileSync(files.sites["site-100"]?.cert as string, "utf8")).toMatch(
    /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/,
  );
});
