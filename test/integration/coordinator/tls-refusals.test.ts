import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterAll, beforeAll, expect, it } from "vitest";
import { FederationMetrics } from "../../../coordinator/src/admin/metrics.js";
import { loadRevocationList } from "../../../coordinator/src/transport/grpc/revocation.js";
import { startGrpcServer } from "../../../coordinator/src/transport/grpc/service.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import type { CoordinatorService } from "../../../shared/src/fl/ports.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";
import { waitFor } from "../../helpers/operator-coordinator.js";

// Real handshakes against the coordinator's own TLS listener: each refused client certificate is
// logged with its reason (once per address in the window) and counted in the metric.
const SCRIPT = fileURLToPath(new URL("../../../deploy/tls/make-certs.sh", import.meta.url));
let dir: string;
let harness: Harness;
let metrics: FederationMetrics;
const lines: string[] = [];
const open: FakeSite[] = [];

const certs = (sub: string, ...args: string[]) => {
  const out = join(dir, sub);
  execFileSync("bash", [SCRIPT, "--out", out, ...args], { stdio: "ignore" });
  return (name: string) => readFileSync(join(out, name));
};
let read: (name: string) => Buffer;
let other: (name: string) => Buffer;

/** A client certificate for "a" from the federation's CA that expired in 2020 (openssl ca takes dates). */
function issueExpired(): { cert: Buffer; key: Buffer } {
  const ca = join(dir, "expired-ca");
  mkdirSync(ca);
  writeFileSync(join(ca, "index.txt"), "");
  writeFileSync(join(ca, "serial"), "01\n");
  writeFileSync(
    join(ca, "ca.cnf"),
    `[ca]\ndefault_ca = x\n[x]\ndatabase = ${ca}/index.txt\nnew_certs_dir = ${ca}\nserial = ${ca}/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n[ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n`,
  );
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  openssl(
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(ca, "a.key"),
    "-subj",
    "/CN=a",
    "-out",
    join(ca, "a.csr"),
  );
  openssl(
    "ca",
    "-batch",
    "-config",
    join(ca, "ca.cnf"),
    "-cert",
    join(dir, "federation", "ca.crt"),
    "-keyfile",
    join(dir, "federation", "ca.key"),
    "-in",
    join(ca, "a.csr"),
    "-out",
    join(ca, "a.crt"),
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200102000000Z",
    "-extensions",
    "ext",
    "-notext",
  );
  return { cert: readFileSync(join(ca, "a.crt")), key: readFileSync(join(ca, "a.key")) };
}
let expired: { cert: Buffer; key: Buffer };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fl-tls-refusals-"));
  read = certs("federation", "--coordinator-san", "DNS:localhost,IP:127.0.0.1", "--site", "a", "--site", "b");
  certs("federation", "--revoke", "b");
  other = certs("other", "--ca-name", "Another Group CA", "--site", "a");
  expired = issueExpired();
  metrics = new FederationMetrics({ federationId: "test", sitesConnected: () => 0, sitesEnrolled: () => 2 });
  harness = await startHarness({
    siteIds: ["a", "b"],
    plan: { minSites: 1, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    tls: {
      cert: read("coordinator.crt"),
      key: read("coordinator.key"),
      ca: read("ca.crt"),
      requireClientCert: true,
    },
    revocation: await loadRevocationList(join(dir, "federation", "ca.crl"), read("ca.crt")),
    log: (line) => lines.push(line),
    onTlsRefusal: (reason) => metrics.tlsRefused(reason),
  });
});

afterAll(async () => {
  for (const site of open) site.close();
  await harness?.close();
  rmSync(dir, { recursive: true, force: true });
});

function site(id: "a" | "b", tls: ConstructorParameters<typeof FakeSite>[3]): FakeSite {
  const s = new FakeSite(harness.address, harness.sites.get(id)!, publicIdentity(harness.coordinator), tls);
  open.push(s);
  return s;
}

/** One raw TLS handshake as a client with these credentials; resolves when the coordinator closed it. */
function handshake(credentials: { cert?: Buffer; key?: Buffer }): Promise<void> {
  const port = Number(harness.address.slice(harness.address.lastIndexOf(":") + 1));
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: read("ca.crt"),
      ALPNProtocols: ["h2"],
      ...credentials,
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve());
  });
}

async function refusals(): Promise<Record<string, number>> {
  const family = parsePrometheusTextFormat(await metrics.text()).find(
    (f) => f.name === "fl_tls_handshake_failures_total",
  );
  return Object.fromEntries((family?.metrics ?? []).map((m) => [m.labels?.reason, Number(m.value)]));
}

const linesFor = (reason: string) => lines.filter((line) => line.includes(`{reason="${reason}"}`));
const PEER = /^refused a TLS client at 127\.0\.0\.1:\d+: /;

it("logs each refused client certificate with its reason, once per address, and counts every one", async () => {
  const bad = {
    no_client_certificate: {},
    unknown_ca: { cert: other("a.crt"), key: other("a.key") },
    expired,
    // A hospital that took the coordinator's certificate for its own.
    not_a_client_certificate: { cert: read("coordinator.crt"), key: read("coordinator.key") },
  };
  for (const credentials of Object.values(bad)) for (let i = 0; i < 3; i++) await handshake(credentials);
  await waitFor(
    async () => {
      const counts = await refusals();
      return Object.keys(bad).every((reason) => counts[reason] === 3) ? true : undefined;
    },
    "three refusals of each kind in the metric",
    10_000,
  );

  for (const reason of Object.keys(bad)) expect(linesFor(reason), reason).toHaveLength(1);
  expect(linesFor("no_client_certificate")[0]).toMatch(PEER);
  expect(linesFor("no_client_certificate")[0]).toContain(
    "the client sent no client certificate, and this coordinator requires mutual TLS: set tls.cert and tls.key",
  );
  // Named by the coordinator's CA, not the client's.
  expect(linesFor("unknown_ca")[0]).toMatch(PEER);
  expect(linesFor("unknown_ca")[0]).toContain(
    `its client certificate is not signed by the federation's CA ("FL Federation CA") in tls.ca (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
  );
  expect(linesFor("expired")[0]).toMatch(PEER);
  expect(linesFor("expired")[0]).toContain("its client certificate has expired (CERT_HAS_EXPIRED)");
  expect(linesFor("not_a_client_certificate")[0]).toContain(
    "its certificate is not issued for client authentication (INVALID_PURPOSE)",
  );

  // The same mistakes through the real client: refused as before, and not logged again.
  await expect(site("a", { ca: read("ca.crt") }).join()).rejects.toThrow(/alert certificate required/);
  await expect(
    site("a", { ca: read("ca.crt"), cert: other("a.crt"), key: other("a.key") }).join(),
  ).rejects.toThrow(/unreachable/);
  await expect(site("a", { ca: read("ca.crt"), ...expired }).join()).rejects.toThrow(/unreachable/);
  const after = await refusals();
  for (const reason of ["no_client_certificate", "unknown_ca", "expired"]) {
    expect(after[reason], reason).toBeGreaterThanOrEqual(4);
    expect(linesFor(reason), reason).toHaveLength(1);
  }
  expect(lines.join("\n")).not.toContain("an unknown address");
});

it("logs a revoked certificate at its first call, and still lets a good site join over the same listener", async () => {
  for (let i = 0; i < 2; i++)
    await expect(
      site("b", { ca: read("ca.crt"), cert: read("b.crt"), key: read("b.key") }).join(),
    ).rejects.toMatchObject({ code: "FL_UNKNOWN_SITE", message: expect.stringContaining("is revoked") });
  expect((await refusals()).revoked).toBe(2);
  const revoked = linesFor("revoked");
  expect(revoked).toHaveLength(1);
  // getPeer() of the call and the TLS socket's address read alike.
  expect(revoked[0]).toMatch(/^refused a TLS client at 127\.0\.0\.1:\d+ \(certificate issued to "b"\): /);
  expect(revoked[0]).toContain("the client certificate with serial");
  expect(revoked[0]).toContain("is revoked (tls.crl)");

  // The join signs the channel binding, the SHA-256 of a.crt, which the coordinator reads off the
  // connection: it only succeeds if the certificate came through the injected connection.
  const good = site("a", { ca: read("ca.crt"), cert: read("a.crt"), key: read("a.key") });
  await good.join();
  expect(good.token).not.toBe("");
  expect(linesFor("revoked")).toHaveLength(1);
});

it("reports the bound port for port 0, names a port in use, and closes the listener and half-open handshakes on shutdown", async () => {
  const tls = {
    cert: read("coordinator.crt"),
    key: read("coordinator.key"),
    ca: read("ca.crt"),
    requireClientCert: true,
  };
  const idle = {} as CoordinatorService;
  const busy = createServer();
  const busyPort = await new Promise<number>((resolve) =>
    busy.listen(0, "127.0.0.1", () => resolve((busy.address() as { port: number }).port)),
  );
  await expect(
    startGrpcServer(idle, { listen: `127.0.0.1:${busyPort}`, security: tls, log: () => {} }),
  ).rejects.toMatchObject({
    code: "FL_INVALID_CONFIG",
    message: expect.stringMatching(
      new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${busyPort}: listen EADDRINUSE.*another process`),
    ),
  });
  busy.close();

  const server = await startGrpcServer(idle, { listen: "127.0.0.1:0", security: tls, log: () => {} });
  expect(server.port).toBeGreaterThan(0);
  // A client that connects and never starts its handshake must not hold shutdown up.
  const stalled = tcpConnect(server.port, "127.0.0.1");
  await new Promise((resolve) => stalled.once("connect", resolve));
  const stalledClosed = new Promise((resolve) => stalled.once("close", resolve));
  await server.shutdown(500);
  await stalledClosed;
  const refused = await new Promise<string>((resolve) => {
    const probe = tcpConnect(server.port, "127.0.0.1");
    probe.once("connect", () => {
      probe.destroy();
      resolve("connected");
    });
    probe.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
  });
  expect(refused).toBe("ECONNREFUSED");
});
