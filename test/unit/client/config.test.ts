import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { loadClientConfig } from "../../../client/src/config.js";
import { isFlError } from "../../../shared/src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "fl-client-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  siteId: "st-marys",
  federationId: "cxr",
  coordinator: "fl.example.org:50051",
  identity: "keys/st-marys.identity.json",
  coordinatorPublicKey: "keys/coordinator.public.json",
  data: { kind: "synthetic", preset: "3-hospitals" },
  workDir: "work",
};

function write(name: string, extra: Record<string, unknown>): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ ...base, ...extra }));
  return path;
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

it("refuses to dial the coordinator in plaintext without tls, saying why and what to do", () => {
  const error = errorOf(() => loadClientConfig(write("plain", {})));
  expect(isFlError(error, "FL_INVALID_CONFIG")).toBe(true);
  expect(error.message).toContain("plain.json");
  expect(error.message).toContain(
    "tls: no tls configured, and the client does not dial the coordinator in plaintext",
  );
  expect(error.message).toContain("class counts");
  expect(error.message).toContain("anyone on the path can pose as the coordinator");
  expect(error.message).toContain("Configure tls: {ca, cert, key}");
  expect(error.message).toContain("set insecure: true or pass --insecure");
});

it("dials plaintext only when the config or the --insecure flag says so", () => {
  expect(loadClientConfig(write("plain-key", { insecure: true })).insecure).toBe(true);
  const byFlag = loadClientConfig(write("plain-flag", {}), { insecure: true });
  expect(byFlag.insecure).toBe(true);
  expect(byFlag.tls).toBeUndefined();
});

it("refuses insecure together with tls", () => {
  const error = errorOf(() => loadClientConfig(write("both", { insecure: true, tls: { ca: "ca.crt" } })));
  expect(error.message).toContain(
    "insecure: insecure (or --insecure) asks for plaintext but tls is configured",
  );
  expect(
    errorOf(() => loadClientConfig(write("both-flag", { tls: { ca: "ca.crt" } }), { insecure: true }))
      .message,
  ).toContain("insecure:");
});

it("refuses a client certificate without its key, and a key without its certificate", () => {
  expect(
    errorOf(() => loadClientConfig(write("cert-only", { tls: { ca: "ca.crt", cert: "a.crt" } }))).message,
  ).toContain("tls.key: a client certificate needs its key");
  expect(
    errorOf(() => loadClientConfig(write("key-only", { tls: { ca: "ca.crt", key: "a.key" } }))).message,
  ).toContain("tls.cert: a client certificate needs its key");
});

it("accepts TLS and mutual TLS, resolving the files from the config's folder", () => {
  expect(loadClientConfig(write("tls", { tls: { ca: "tls/ca.crt" } })).tls).toEqual({
    ca: join(dir, "tls/ca.crt"),
  });
  const mutual = loadClientConfig(
    write("mtls", { tls: { ca: "ca.crt", cert: "a.crt", key: "/etc/fl/a.key" } }),
  );
  expect(mutual.insecure).toBe(false);
  expect(mutual.tls).toEqual({ ca: join(dir, "ca.crt"), cert: join(dir, "a.crt"), key: "/etc/fl/a.key" });
});
