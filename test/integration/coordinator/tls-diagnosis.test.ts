import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { diagnoseTls } from "../../../client/src/tls-diagnosis.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

// What grpc-js reports for each TLS mistake, from real handshakes, and what the client says of it.
const SCRIPT = fileURLToPath(new URL("../../../deploy/tls/make-certs.sh", import.meta.url));
let dir: string;
let harness: Harness;
let port: string;

const certs = (sub: string, sites: string[]) => {
  const out = join(dir, sub);
  execFileSync(
    "bash",
    [SCRIPT, "--out", out, "--coordinator-san", "DNS:localhost", ...sites.flatMap((s) => ["--site", s])],
    {
      stdio: "ignore",
    },
  );
  return (name: string) => readFileSync(join(out, name));
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fl-tls-diagnosis-"));
  const read = certs("federation", ["a"]);
  harness = await startHarness({
    siteIds: ["a"],
    plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    tls: {
      cert: read("coordinator.crt"),
      key: read("coordinator.key"),
      ca: read("ca.crt"),
      requireClientCert: true,
    },
  });
  port = harness.address.slice(harness.address.lastIndexOf(":") + 1);
});

afterAll(async () => {
  await harness.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(address: string, tls: ConstructorParameters<typeof FakeSite>[3]): Promise<FlError> {
  const site = new FakeSite(address, harness.sites.get("a")!, publicIdentity(harness.coordinator), tls);
  try {
    await site.join();
  } catch (error) {
    return error as FlError;
  } finally {
    site.close();
  }
  throw new Error("the join succeeded");
}

it("names the setting behind each TLS handshake failure, which grpc-js reports as 'unreachable'", async () => {
  const read = (name: string) => readFileSync(join(dir, "federation", name));
  const other = certs("other", ["a"]);
  const settings = (coordinator: string) => ({ coordinator, ca: "/etc/fl/ca.crt", cert: "/etc/fl/a.crt" });
  const at = `localhost:${port}`;

  const noCert = await refusal(at, { ca: read("ca.crt") });
  expect(noCert.code).toBe(ErrorCode.Timeout);
  expect(diagnoseTls(noCert, settings(at))?.message).toMatch(
    new RegExp(`^the coordinator at ${at} requires a client certificate .*set tls.cert and tls.key`),
  );

  const wrongCa = await refusal(at, { ca: other("ca.crt"), cert: read("a.crt"), key: read("a.key") });
  expect(diagnoseTls(wrongCa, settings(at))).toMatchObject({
    code: ErrorCode.InvalidConfig,
    message: expect.stringContaining(`is not issued by the CA in tls.ca (/etc/fl/ca.crt)`),
  });

  const byIp = `127.0.0.1:${port}`;
  const badHost = await refusal(byIp, { ca: read("ca.crt"), cert: read("a.crt"), key: read("a.key") });
  expect(diagnoseTls(badHost, settings(byIp))?.message).toContain(
    `the coordinator's certificate is not issued for "127.0.0.1" (the host in coordinator: ${byIp})`,
  );

  // A coordinator that is down is a retry, not a configuration to name.
  const down = new FlError(
    ErrorCode.Timeout,
    "coordinator unreachable: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1",
  );
  expect(diagnoseTls(down, settings(at))).toBeUndefined();
});
