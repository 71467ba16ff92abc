import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

const SCRIPT = fileURLToPath(new URL("../../../deploy/tls/make-certs.sh", import.meta.url));
let certs: string;
let harness: Harness;
const open: FakeSite[] = [];

beforeAll(async () => {
  certs = mkdtempSync(join(tmpdir(), "fl-tls-"));
  execFileSync(
    "bash",
    [SCRIPT, "--out", certs, "--coordinator-san", "DNS:localhost,IP:127.0.0.1", "--site", "a", "--site", "b"],
    { stdio: "ignore" },
  );
  const read = (name: string) => readFileSync(join(certs, name));
  harness = await startHarness({
    siteIds: ["a", "b"],
    plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    tls: {
      cert: read("coordinator.crt"),
      key: read("coordinator.key"),
      ca: read("ca.crt"),
      requireClientCert: true,
    },
  });
});

afterAll(async () => {
  for (const site of open) site.close();
  await harness.close();
  rmSync(certs, { recursive: true, force: true });
});

function site(tls: ConstructorParameters<typeof FakeSite>[3]): FakeSite {
  const s = new FakeSite(harness.address, harness.sites.get("a")!, publicIdentity(harness.coordinator), tls);
  open.push(s);
  return s;
}

it("runs a round over mutual TLS and refuses clients without a certificate from the federation's CA", async () => {
  const read = (name: string) => readFileSync(join(certs, name));
  // No client certificate: the handshake fails.
  const anonymous = site({ ca: read("ca.crt") });
  await expect(anonymous.join()).rejects.toThrow();
  // A client that does not trust the federation's CA refuses the coordinator.
  const wrongTrust = site({ ca: read("a.crt"), cert: read("a.crt"), key: read("a.key") });
  await expect(wrongTrust.join()).rejects.toThrow();

  // Hospital b's key with hospital a's certificate.
  const borrowed = new FakeSite(
    harness.address,
    harness.sites.get("b")!,
    publicIdentity(harness.coordinator),
    { ca: read("ca.crt"), cert: read("a.crt"), key: read("a.key") },
  );
  open.push(borrowed);
  // Not FL_UNAUTHENTICATED, which a client answers by joining again: this never changes.
  await expect(borrowed.join()).rejects.toMatchObject({
    code: ErrorCode.UnknownSite,
    message: expect.stringMatching(/issued to "a" but the client joins as "b"/),
  });

  const good = site({ ca: read("ca.crt"), cert: read("a.crt"), key: read("a.key") });
  await good.join();
  const task = await good.nextTask();
  if (task === "done") throw new Error("unexpected done");
  const global = await good.download(task);
  expect(await good.upload(good.pack(task, global, 1, 2))).toMatchObject({ accepted: true });
});
