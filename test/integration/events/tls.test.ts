import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../shared/src/errors.js";
import { makeEvent } from "../../../shared/src/events/index.js";
import { createNatsEventBus, type NatsEventBus } from "../../../shared/src/events/nats-bus.js";
import { type NatsServerHandle, startNatsServer } from "../../helpers/nats-server.js";

// Certificates come from the deployment script itself, so this also checks deploy/tls/make-certs.sh.
let certDir: string;
let server: NatsServerHandle;
const opened: NatsEventBus[] = [];

beforeAll(async () => {
  certDir = await mkdtemp(join(tmpdir(), "fl-certs-"));
  execFileSync(
    "bash",
    [
      "deploy/tls/make-certs.sh",
      "--out",
      certDir,
      "--nats-san",
      "DNS:localhost,IP:127.0.0.1",
      "--site",
      "hospital-a",
    ],
    { stdio: "pipe" },
  );
  server = await startNatsServer({
    tls: {
      certFile: join(certDir, "nats.crt"),
      keyFile: join(certDir, "nats.key"),
      caFile: join(certDir, "ca.crt"),
      verify: true,
    },
  });
});

afterAll(async () => {
  for (const bus of opened) await bus.close();
  await server?.stop();
  if (certDir !== undefined) await rm(certDir, { recursive: true, force: true });
});

describe("NATS event bus over mutual TLS", () => {
  it("connects with the CA and a hospital client certificate and delivers events", async () => {
    const tls = {
      caFile: join(certDir, "ca.crt"),
      certFile: join(certDir, "hospital-a.crt"),
      keyFile: join(certDir, "hospital-a.key"),
    };
    const publisher = await createNatsEventBus({ url: server.url, federationId: "fedT", tls, log: () => {} });
    opened.push(publisher);
    const observer = await createNatsEventBus({ url: server.url, federationId: "fedT", tls, log: () => {} });
    opened.push(observer);
    const seen: string[] = [];
    observer.subscribe((e) => seen.push(`${e.type}@${e.siteId}`));
    await observer.flush();

    await publisher.publish(makeEvent("site.joined", "fedT", { siteId: "hospital-a" }));
    await expect.poll(() => seen, { timeout: 5_000 }).toEqual(["site.joined@hospital-a"]);
  });

  it("is refused without a client certificate, with the clear connection error", async () => {
    const error = await createNatsEventBus({
      url: server.url,
      federationId: "fedT",
      tls: { caFile: join(certDir, "ca.crt") },
      connectTimeoutMs: 1_500,
      log: () => {},
    }).catch((e: unknown) => e);
    expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    expect((error as Error).message).toContain(server.url);
    expect((error as Error).message).toContain("certFile and keyFile");
  });

  it("is refused when the server certificate is not signed by the given CA", async () => {
    const otherCa = await mkdtemp(join(tmpdir(), "fl-certs-other-"));
    try {
      execFileSync("bash", ["deploy/tls/make-certs.sh", "--out", otherCa, "--site", "x"], { stdio: "pipe" });
      const error = await createNatsEventBus({
        url: server.url,
        federationId: "fedT",
        tls: {
          caFile: join(otherCa, "ca.crt"),
          certFile: join(certDir, "hospital-a.crt"),
          keyFile: join(certDir, "hospital-a.key"),
        },
        connectTimeoutMs: 1_500,
        log: () => {},
      }).catch((e: unknown) => e);
      expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    } finally {
      await rm(otherCa, { recursive: true, force: true });
    }
  });
});
