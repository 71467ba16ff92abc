import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadCoordinatorConfig } from "../../../coordinator/src/config.js";
import { isFlError } from "../../../shared/src/errors.js";
import { LONG_POLL_MS, MIN_HEARTBEAT_TIMEOUT_MS } from "../../../shared/src/fl/protocol-constants.js";

const dir = mkdtempSync(join(tmpdir(), "fl-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

it("says which file is missing", () => {
  const error = errorOf(() => loadCoordinatorConfig(join(dir, "nope.yaml")));
  expect(isFlError(error, "FL_INVALID_CONFIG")).toBe(true);
  expect(error.message).toContain("nope.yaml");
});

it("says when a file is not valid YAML", () => {
  writeFileSync(join(dir, "bad.yaml"), "federationId: [unclosed\n");
  const error = errorOf(() => loadCoordinatorConfig(join(dir, "bad.yaml")));
  expect(error.message).toMatch(/not valid YAML/);
});

it("lists every invalid key with its path", () => {
  writeFileSync(
    join(dir, "invalid.json"),
    JSON.stringify({
      federationId: "has.dots",
      stateDir: "s",
      identity: "i",
      sitesDir: "d",
      model: { architecture: "small-cnn", imageSize: 8, widths: [4], numClasses: 4, seed: 0 },
      plan: { phases: [] },
    }),
  );
  const error = errorOf(() => loadCoordinatorConfig(join(dir, "invalid.json")));
  expect(error.message).toContain("federationId");
  expect(error.message).toContain("model.imageSize");
  expect(error.message).toContain("plan.phases");
});

it("resolves paths relative to the config file", () => {
  writeFileSync(
    join(dir, "ok.json"),
    JSON.stringify({
      federationId: "f",
      stateDir: "state",
      identity: "keys/c.json",
      sitesDir: "keys/sites",
      insecure: true,
      model: { architecture: "small-cnn", imageSize: 32, widths: [4], numClasses: 4, seed: 0 },
      plan: { phases: [{ name: "p", task: "classify", rounds: 1 }] },
    }),
  );
  const config = loadCoordinatorConfig(join(dir, "ok.json"));
  expect(config.stateDir).toBe(join(dir, "state"));
  expect(config.identity).toBe(join(dir, "keys/c.json"));
  expect(config.plan.minSites).toBe(2);
});

it("names the new key when a config still uses a renamed one", () => {
  writeFileSync(
    join(dir, "renamed.json"),
    JSON.stringify({
      federationId: "f",
      stateDir: "state",
      identity: "i",
      sitesDir: "d",
      model: { architecture: "small-cnn", imageSize: 32, widths: [4], numClasses: 4, seed: 0 },
      plan: { minClients: 2, phases: [{ name: "p", task: "classify", rounds: 1 }] },
    }),
  );
  const error = errorOf(() => loadCoordinatorConfig(join(dir, "renamed.json")));
  expect(error.message).toContain(
    'plan: Unrecognized key: "minClients"; "minClients" is now called "minSites"',
  );
});

describe("limits.heartbeatTimeoutSec", () => {
  function configWith(heartbeatTimeoutSec: number): string {
    const path = join(dir, `heartbeat-${heartbeatTimeoutSec}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        federationId: "f",
        stateDir: "state",
        identity: "i",
        sitesDir: "d",
        insecure: true,
        model: { architecture: "small-cnn", imageSize: 32, widths: [4], numClasses: 4, seed: 0 },
        plan: { phases: [{ name: "p", task: "classify", rounds: 1 }] },
        limits: { heartbeatTimeoutSec },
      }),
    );
    return path;
  }

  it("refuses a timeout an idle site's long-poll would outlast, naming the key, value, minimum and why", () => {
    const error = errorOf(() => loadCoordinatorConfig(configWith(10)));
    expect(isFlError(error, "FL_INVALID_CONFIG")).toBe(true);
    expect(error.message).toContain(`limits.heartbeatTimeoutSec: 10 is below the minimum of 25 s`);
    expect(error.message).toContain(`long-poll, which waits up to ${LONG_POLL_MS / 1000} s`);
    expect(error.message).toContain("drops healthy sites");
  });

  it("refuses one exactly as long as the long-poll, and accepts the minimum", () => {
    expect(errorOf(() => loadCoordinatorConfig(configWith(LONG_POLL_MS / 1000))).message).toContain(
      "limits.heartbeatTimeoutSec",
    );
    const minimum = MIN_HEARTBEAT_TIMEOUT_MS / 1000;
    expect(loadCoordinatorConfig(configWith(minimum)).limits.heartbeatTimeoutSec).toBe(minimum);
  });
});

describe("transport security", () => {
  const base = {
    federationId: "f",
    stateDir: "state",
    identity: "i",
    sitesDir: "d",
    model: { architecture: "small-cnn", imageSize: 32, widths: [4], numClasses: 4, seed: 0 },
    plan: { phases: [{ name: "p", task: "classify", rounds: 1 }] },
  };
  function write(name: string, extra: Record<string, unknown>): string {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify({ ...base, ...extra }));
    return path;
  }

  it("refuses to serve plaintext without tls, saying what it would expose and both ways out", () => {
    const error = errorOf(() => loadCoordinatorConfig(write("plain", {})));
    expect(isFlError(error, "FL_INVALID_CONFIG")).toBe(true);
    expect(error.message).toContain("plain.json");
    expect(error.message).toContain(
      "tls: no tls configured, and the coordinator does not serve plaintext gRPC",
    );
    expect(error.message).toContain("class counts");
    expect(error.message).toContain("confusion matrices");
    expect(error.message).toContain("anyone on the path can pose as the coordinator");
    expect(error.message).toContain("Configure tls: {cert, key, ca}");
    expect(error.message).toContain("set insecure: true or pass --insecure");
  });

  it("serves plaintext when the config or the --insecure flag asks for it explicitly", () => {
    expect(loadCoordinatorConfig(write("plain-key", { insecure: true })).insecure).toBe(true);
    const byFlag = loadCoordinatorConfig(write("plain-flag", {}), { insecure: true });
    expect(byFlag.insecure).toBe(true);
    expect(byFlag.tls).toBeUndefined();
  });

  it("refuses insecure together with tls, whichever way insecure was asked for", () => {
    const tls = { cert: "c.crt", key: "c.key", ca: "ca.crt" };
    for (const config of [
      () => loadCoordinatorConfig(write("both", { tls, insecure: true })),
      () => loadCoordinatorConfig(write("both-flag", { tls }), { insecure: true }),
    ]) {
      expect(errorOf(config).message).toContain(
        "insecure: insecure (or --insecure) asks for plaintext but tls is configured",
      );
    }
  });

  it("requires a ca when client certificates are required (the default), naming the key", () => {
    const error = errorOf(() =>
      loadCoordinatorConfig(write("no-ca", { tls: { cert: "c.crt", key: "c.key" } })),
    );
    expect(isFlError(error, "FL_INVALID_CONFIG")).toBe(true);
    expect(error.message).toContain("tls.ca: requireClientCert is true (the default) but no ca is given");
    expect(error.message).toContain("or set requireClientCert: false");
    expect(
      errorOf(() =>
        loadCoordinatorConfig(
          write("no-ca-explicit", { tls: { cert: "c", key: "k", requireClientCert: true } }),
        ),
      ).message,
    ).toContain("tls.ca:");
  });

  it("accepts TLS without client certificates, and mutual TLS with its ca, resolving every path", () => {
    const serverOnly = loadCoordinatorConfig(
      write("server-tls", { tls: { cert: "c.crt", key: "c.key", requireClientCert: false } }),
    );
    expect(serverOnly.insecure).toBe(false);
    expect(serverOnly.tls).toEqual({
      cert: join(dir, "c.crt"),
      key: join(dir, "c.key"),
      requireClientCert: false,
    });
    const mutual = loadCoordinatorConfig(
      write("mtls", { tls: { cert: "c.crt", key: "c.key", ca: "tls/ca.crt" } }),
    );
    expect(mutual.tls).toEqual({
      cert: join(dir, "c.crt"),
      key: join(dir, "c.key"),
      ca: join(dir, "tls/ca.crt"),
      requireClientCert: true,
    });
  });
});
