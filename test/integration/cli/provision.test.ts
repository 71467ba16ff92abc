import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadClientConfig } from "../../../client/src/config.js";
import { readIdentityFile, readPublicIdentityFile } from "../../../shared/src/config/key-files.js";
import { keyFingerprint, publicIdentity, publicIdentityToJson } from "../../../shared/src/crypto/index.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

// The hospital side (fl keys request) and the operator side (fl provision) as separate processes
// with separate folders, then a real mutual-TLS join with what each side ends up holding.
const FL = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const MAKE_CERTS = fileURLToPath(new URL("../../../deploy/tls/make-certs.sh", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fl-provision-"));
const tls = join(dir, "operator", "tls");
const sitesDir = join(dir, "operator", "sites");
const kits = join(dir, "operator", "kits");
const hospital = (id: string) => join(dir, id);
let harness: Harness;

function run(command: string, args: string[]) {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
const fl = (args: string[]) => run(process.execPath, [FL, ...args]);

function provision(requests: string[], extra: string[] = []) {
  return fl([
    "provision",
    "--ca",
    tls,
    "--coordinator",
    harness.address,
    "--federation-id",
    "test",
    "--coordinator-public-key",
    join(dir, "operator", "coordinator.public.json"),
    "--sites-dir",
    sitesDir,
    "--out",
    kits,
    ...extra,
    ...requests,
  ]);
}

/** Every file under `root`, recursively. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: "utf8" })
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isFile());
}

/** The CSR PEM of a request file, as DER. */
function csrDer(requestPath: string): Buffer {
  const pem = (JSON.parse(readFileSync(requestPath, "utf8")) as { csr: string }).csr;
  return Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64");
}

function writeRequestWithCsr(from: string, der: Buffer, to: string): string {
  const request = JSON.parse(readFileSync(from, "utf8")) as Record<string, unknown>;
  const body = der.toString("base64").replace(/.{64}/g, "$&\n");
  request.csr = `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`;
  writeFileSync(to, JSON.stringify(request));
  return to;
}

/** keyFingerprint of the CSR's public key, computed by openssl rather than by the code under test. */
function opensslKeyFingerprint(requestPath: string): string {
  const pem = (JSON.parse(readFileSync(requestPath, "utf8")) as { csr: string }).csr;
  const spki = spawnSync("sh", ["-c", "openssl req -pubkey -noout | openssl pkey -pubin -outform DER"], {
    input: pem,
  }).stdout;
  return keyFingerprint(new Uint8Array(spki));
}

beforeAll(async () => {
  for (const id of ["st-marys", "riverside"]) {
    const made = fl(["keys", "request", "--id", id, "--out", hospital(id)]);
    expect(made.stderr).toBe("");
    expect(made.status).toBe(0);
  }
  // No --site: the operator makes only the CA and the coordinator's certificate.
  const certs = run("bash", [MAKE_CERTS, "--out", tls]);
  expect(certs.status, certs.stderr).toBe(0);
  harness = await startHarness({
    siteIds: ["st-marys", "riverside"],
    identities: ["st-marys", "riverside"].map((id) =>
      readIdentityFile(join(hospital(id), `${id}.identity.json`)),
    ),
    tls: {
      cert: readFileSync(join(tls, "coordinator.crt")),
      key: readFileSync(join(tls, "coordinator.key")),
      ca: readFileSync(join(tls, "ca.crt")),
      requireClientCert: true,
    },
  });
  writeFileSync(
    join(dir, "operator", "coordinator.public.json"),
    publicIdentityToJson(publicIdentity(harness.coordinator)),
  );
}, 120_000);

afterAll(async () => {
  await harness?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("fl keys request", () => {
  it("keeps both private keys at the hospital (mode 600) and puts only public material in the request", () => {
    const files = readdirSync(hospital("st-marys")).sort();
    expect(files).toEqual([
      "st-marys.identity.json",
      "st-marys.public.json",
      "st-marys.request.json",
      "st-marys.tls.key",
    ]);
    for (const secret of ["st-marys.identity.json", "st-marys.tls.key"])
      expect(statSync(join(hospital("st-marys"), secret)).mode & 0o777).toBe(0o600);
    const request = readFileSync(join(hospital("st-marys"), "st-marys.request.json"), "utf8");
    expect(request).not.toContain("PRIVATE KEY");
    expect(request).not.toContain("secretKey");
    // The CSR is one openssl accepts: self-signature valid, issued to the site id, a P-256 key.
    const pem = (JSON.parse(request) as { csr: string }).csr;
    const text = spawnSync("openssl", ["req", "-verify", "-noout", "-text"], {
      input: pem,
      encoding: "utf8",
    });
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/Subject: CN\s?=\s?st-marys/);
    expect(text.stdout).toContain("prime256v1");
    expect(text.stderr + text.stdout).toMatch(/verify OK/);
  });
});

describe("fl provision", () => {
  let output: string;
  beforeAll(() => {
    const result = provision([
      join(hospital("st-marys"), "st-marys.request.json"),
      join(hospital("riverside"), "riverside.request.json"),
    ]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    output = result.stdout;
  }, 60_000);

  it("prints each site's fingerprints, the TLS key's matching openssl's, for comparison", () => {
    for (const id of ["st-marys", "riverside"]) {
      const site = readPublicIdentityFile(join(hospital(id), `${id}.public.json`));
      const tlsKey = opensslKeyFingerprint(join(hospital(id), `${id}.request.json`));
      expect(output).toContain(
        `${id}  signing ${keyFingerprint(site.signingPublicKey)}  encryption ${keyFingerprint(site.encryptionPublicKey)}  tls ${tlsKey}`,
      );
    }
    expect(output).toContain(`coordinator  signing ${keyFingerprint(harness.coordinator.signing.publicKey)}`);
  });

  it("enrols the public identities in sitesDir", () => {
    for (const id of ["st-marys", "riverside"])
      expect(readFileSync(join(sitesDir, `${id}.public.json`), "utf8")).toBe(
        readFileSync(join(hospital(id), `${id}.public.json`), "utf8"),
      );
  });

  it("writes kits with no private key, and a client certificate openssl verifies as clientAuth for the site", () => {
    expect(readdirSync(join(kits, "st-marys")).sort()).toEqual([
      "README.txt",
      "ca.crt",
      "client.yaml",
      "coordinator.public.json",
      "st-marys.crt",
    ]);
    for (const file of filesUnder(kits)) {
      const text = readFileSync(file, "utf8");
      expect(text, file).not.toContain("PRIVATE KEY");
      expect(text, file).not.toContain("secretKey");
    }
    const cert = join(kits, "st-marys", "st-marys.crt");
    const verified = run("openssl", [
      "verify",
      "-CAfile",
      join(tls, "ca.crt"),
      "-purpose",
      "sslclient",
      cert,
    ]);
    expect(verified.stdout).toContain(": OK");
    const text = run("openssl", ["x509", "-in", cert, "-noout", "-text"]).stdout;
    expect(text).toMatch(/Subject: CN\s?=\s?st-marys/);
    expect(text).toContain("TLS Web Client Authentication");
    // The certificate is for the key the hospital kept.
    const certKey = spawnSync("sh", ["-c", `openssl x509 -in '${cert}' -noout -pubkey`]).stdout;
    const heldKey = spawnSync("sh", [
      "-c",
      `openssl pkey -in '${join(hospital("st-marys"), "st-marys.tls.key")}' -pubout`,
    ]).stdout;
    expect(certKey.toString()).toBe(heldKey.toString());
  });

  it("a kit copied next to the hospital's keys joins the coordinator over mutual TLS", async () => {
    cpSync(join(kits, "st-marys"), hospital("st-marys"), { recursive: true });
    const config = loadClientConfig(join(hospital("st-marys"), "client.yaml"));
    expect(config).toMatchObject({ siteId: "st-marys", federationId: "test", coordinator: harness.address });
    const site = new FakeSite(
      config.coordinator,
      readIdentityFile(config.identity),
      readPublicIdentityFile(config.coordinatorPublicKey),
      {
        ca: readFileSync(config.tls?.ca ?? ""),
        cert: readFileSync(config.tls?.cert ?? ""),
        key: readFileSync(config.tls?.key ?? ""),
      },
      config.federationId,
    );
    await site.join();
    expect(site.federationId).toBe("test");
    site.connection.close();
  });

  it("the coordinator refuses one hospital's kit certificate with another hospital's identity", async () => {
    const site = new FakeSite(
      harness.address,
      readIdentityFile(join(hospital("riverside"), "riverside.identity.json")),
      publicIdentity(harness.coordinator),
      {
        ca: readFileSync(join(tls, "ca.crt")),
        cert: readFileSync(join(kits, "st-marys", "st-marys.crt")),
        key: readFileSync(join(hospital("st-marys"), "st-marys.tls.key")),
      },
      "test",
    );
    await expect(site.join()).rejects.toThrow('issued to "st-marys" but the client joins as "riverside"');
    site.connection.close();
  });

  it("refuses a request whose CSR was swapped for another key's, and writes nothing", () => {
    // The swapped-in CSR is itself valid (self-signed, CN=st-marys), for a key the attacker holds.
    const attacker = join(dir, "attacker");
    expect(fl(["keys", "request", "--id", "st-marys", "--out", attacker]).status).toBe(0);
    const tampered = writeRequestWithCsr(
      join(hospital("st-marys"), "st-marys.request.json"),
      csrDer(join(attacker, "st-marys.request.json")),
      join(dir, "swapped.request.json"),
    );
    const result = provision([tampered], ["--out", join(dir, "kits-swapped")]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      "its csr is not signed by the identity of st-marys: the TLS key in it is not the one this identity's holder made",
    );
    expect(() => statSync(join(dir, "kits-swapped"))).toThrow();
  });

  it("refuses a request whose CSR's public key was altered after signing", () => {
    const original = csrDer(join(hospital("st-marys"), "st-marys.request.json"));
    const other = csrDer(join(hospital("riverside"), "riverside.request.json"));
    // Both P-256 SubjectPublicKeyInfos are 91 bytes starting with the same algorithm header.
    const header = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107", "hex");
    const at = original.indexOf(header);
    const from = other.indexOf(header);
    expect(at).toBeGreaterThan(0);
    const altered = Buffer.from(original);
    other.copy(altered, at, from, from + 91);
    const tampered = writeRequestWithCsr(
      join(hospital("st-marys"), "st-marys.request.json"),
      altered,
      join(dir, "altered.request.json"),
    );
    const result = provision([tampered], ["--out", join(dir, "kits-altered")]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("the csr's signature does not match its public key");
  });

  it("refuses another key for an enrolled id, and an existing kit without --force", () => {
    const other = join(dir, "other-st-marys");
    expect(fl(["keys", "request", "--id", "st-marys", "--out", other]).status).toBe(0);
    const before = readFileSync(join(sitesDir, "st-marys.public.json"), "utf8");
    const result = provision([join(other, "st-marys.request.json")], ["--out", join(dir, "kits-other")]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("already enrols st-marys with another key: nothing was written");
    expect(readFileSync(join(sitesDir, "st-marys.public.json"), "utf8")).toBe(before);

    const again = provision([join(hospital("riverside"), "riverside.request.json")]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain("already exists: nothing was written. Pass --force");
  });
});
