import { X509Certificate } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type FederationTlsFiles, writeFederationCertificates } from "../../../cli/simulate/certificates.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

// The certificates `fl simulate` makes for each run, used by a real gRPC server on port 0.
let dir: string;
let files: FederationTlsFiles;
let otherRun: FederationTlsFiles;
let harness: Harness;
const open: FakeSite[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "fl-sim-tls-"));
  files = await writeFederationCertificates(join(dir, "run"), ["a", "b"]);
  otherRun = await writeFederationCertificates(join(dir, "other-run"), ["a"]);
  harness = await startHarness({
    siteIds: ["a", "b"],
    plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    tls: {
      cert: readFileSync(files.coordinator.cert),
      key: readFileSync(files.coordinator.key),
      ca: readFileSync(files.ca),
      requireClientCert: true,
    },
  });
});

afterAll(async () => {
  for (const site of open) site.close();
  await harness?.close();
  rmSync(dir, { recursive: true, force: true });
});

function site(as: "a" | "b", tls: { ca: string; cert?: string; key?: string }): FakeSite {
  const s = new FakeSite(harness.address, harness.sites.get(as)!, publicIdentity(harness.coordinator), {
    ca: readFileSync(tls.ca),
    ...(tls.cert && { cert: readFileSync(tls.cert) }),
    ...(tls.key && { key: readFileSync(tls.key) }),
  });
  open.push(s);
  return s;
}

it("issues certificates for 127.0.0.1/localhost and each site's id, keys 0600, and no CA key on disk", () => {
  const server = new X509Certificate(readFileSync(files.coordinator.cert));
  const ca = new X509Certificate(readFileSync(files.ca));
  expect(server.checkIssued(ca)).toBe(true);
  expect(server.verify(ca.publicKey)).toBe(true);
  expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1");
  expect(server.checkHost("localhost")).toBe("localhost");
  expect(server.checkHost("fl.example.org")).toBeUndefined();
  expect(ca.ca).toBe(true);
  expect(server.ca).toBe(false);
  for (const id of ["a", "b"]) {
    const client = new X509Certificate(readFileSync(files.sites[id]!.cert));
    expect(client.subject).toBe(`CN=${id}`);
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(client.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]); // clientAuth only
  }
  for (const key of [files.coordinator.key, files.sites.a!.key, files.sites.b!.key])
    expect((statSync(key).mode & 0o777).toString(8)).toBe("600");
  const written = [...readdirSync(join(dir, "run")), ...readdirSync(join(dir, "run", "sites"))].sort();
  expect(written).toEqual([
    "a.crt",
    "a.key",
    "b.crt",
    "b.key",
    "ca.crt",
    "coordinator.crt",
    "coordinator.key",
    "sites",
  ]);
});

it("gives a working mutual-TLS join and round to a site with its own certificate", async () => {
  const good = site("a", { ca: files.ca, ...files.sites.a! });
  await good.join();
  const task = await good.nextTask();
  if (task === "done") throw new Error("unexpected done");
  const global = await good.download(task);
  expect(await good.upload(good.pack(task, global, 1, 2))).toMatchObject({ accepted: true });
});

it("refuses another site's certificate, a certificate of another run's CA, and no certificate", async () => {
  // Site b's identity key presented with site a's certificate.
  const borrowed = site("b", { ca: files.ca, ...files.sites.a! });
  await expect(borrowed.join()).rejects.toThrow(/issued to "a" but the client joins as "b"/);
  const foreign = site("a", { ca: files.ca, ...otherRun.sites.a! });
  await expect(foreign.join()).rejects.toThrow();
  const anonymous = site("a", { ca: files.ca });
  await expect(anonymous.join()).rejects.toThrow();
  // A client that trusts another run's CA refuses this coordinator.
  const wrongTrust = site("a", { ca: otherRun.ca, ...files.sites.a! });
  await expect(wrongTrust.join()).rejects.toThrow();
});
