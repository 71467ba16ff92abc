import { execFileSync } from "node:child_process";
import { X509Certificate as NodeCertificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadRevocationList } from "../../../coordinator/src/transport/grpc/revocation.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

const SCRIPT = fileURLToPath(new URL("../../../deploy/tls/make-certs.sh", import.meta.url));
let certs: string;
let harness: Harness;
const open: FakeSite[] = [];
const read = (name: string) => readFileSync(join(certs, name));
const makeCerts = (...args: string[]) => execFileSync("bash", [SCRIPT, ...args], { stdio: "ignore" });

beforeAll(async () => {
  certs = mkdtempSync(join(tmpdir(), "fl-crl-"));
  makeCerts("--out", certs, "--coordinator-san", "DNS:localhost,IP:127.0.0.1", "--site", "a", "--site", "b");
  // The operator's way: the CA revokes b's certificate and writes ca.crl.
  makeCerts("--out", certs, "--revoke", "b");
  harness = await startHarness({
    siteIds: ["a", "b"],
    plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    tls: {
      cert: read("coordinator.crt"),
      key: read("coordinator.key"),
      ca: read("ca.crt"),
      requireClientCert: true,
    },
    revocation: await loadRevocationList(join(certs, "ca.crl"), read("ca.crt")),
  });
});

afterAll(async () => {
  for (const site of open) site.close();
  await harness?.close();
  rmSync(certs, { recursive: true, force: true });
});

function site(id: "a" | "b"): FakeSite {
  const s = new FakeSite(harness.address, harness.sites.get(id)!, publicIdentity(harness.coordinator), {
    ca: read("ca.crt"),
    cert: read(`${id}.crt`),
    key: read(`${id}.key`),
  });
  open.push(s);
  return s;
}

it("refuses a client certificate the CA revoked, by its serial, and lets the others in", async () => {
  const serial = new NodeCertificate(read("b.crt")).serialNumber.toLowerCase().replace(/^0+/, "");
  await expect(site("b").join()).rejects.toMatchObject({
    code: "FL_UNKNOWN_SITE",
    message: expect.stringContaining(`serial ${serial} is revoked`),
  });
  await site("a").join();
});

it("refuses a CRL that the federation's CA did not sign", async () => {
  const other = mkdtempSync(join(tmpdir(), "fl-crl-other-"));
  makeCerts("--out", other, "--site", "a");
  makeCerts("--out", other, "--revoke", "a");
  const forged = loadRevocationList(join(other, "ca.crl"), read("ca.crt"));
  await expect(forged).rejects.toMatchObject({
    code: "FL_INVALID_CONFIG",
    message: expect.stringContaining("not signed by the CA"),
  });
  rmSync(other, { recursive: true, force: true });
});
