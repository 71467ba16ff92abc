import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

// `fl coordinator` and `fl client` refuse plaintext unless told so; --insecure is that switch.
const FL = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fl-tls-required-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fl(args: string[]) {
  return spawnSync(process.execPath, [FL, ...args], { encoding: "utf8", timeout: 60_000 });
}

function config(name: string, value: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

it("fl coordinator refuses a config without tls, and with --insecure starts with a warning", () => {
  const path = config("coordinator.json", {
    federationId: "plain",
    listen: "127.0.0.1:0",
    stateDir: "state",
    identity: "missing.identity.json",
    sitesDir: "sites",
    model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
    plan: { phases: [{ name: "p", task: "classify", rounds: 1 }], minSites: 1 },
  });
  const refused = fl(["coordinator", "--config", path]);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toContain(
    "tls: no tls configured, and the coordinator does not serve plaintext gRPC",
  );
  expect(refused.stderr).toContain("pass --insecure");

  // Past the config check it warns first, then stops at the next problem (the missing identity).
  const insecure = fl(["coordinator", "--config", path, "--insecure"]);
  expect(insecure.status).toBe(1);
  // Not a terminal, so the coordinator's log is JSON (cli/log.ts): the warning is a record's msg.
  expect(insecure.stderr).toMatch(
    /"level":"warn",.*"name":"coordinator","msg":"WARNING: insecure: true: plaintext gRPC without TLS: .*For a lab only\."/,
  );
  expect(insecure.stderr).toContain("cannot read identity file");
  expect(insecure.stderr).not.toContain("no tls configured");
});

it("fl client refuses to dial in plaintext without tls, and with --insecure gets past that", () => {
  const path = config("client.json", {
    siteId: "st-marys",
    federationId: "plain",
    coordinator: "127.0.0.1:1",
    identity: "missing.identity.json",
    coordinatorPublicKey: "coordinator.public.json",
    data: { kind: "synthetic", preset: "3-hospitals" },
    workDir: "work",
  });
  const refused = fl(["client", "--config", path]);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toContain(
    "tls: no tls configured, and the client does not dial the coordinator in plaintext",
  );
  expect(refused.stderr).toContain("pass --insecure");

  const insecure = fl(["client", "--config", path, "--insecure"]);
  expect(insecure.status).toBe(1);
  // JSON when not a terminal, as the coordinator's (cli/log.ts).
  expect(insecure.stderr).toMatch(
    /"level":"warn",.*"name":"st-marys","msg":"WARNING: insecure: true: dialling the coordinator without TLS/,
  );
  expect(insecure.stderr).toContain("cannot read identity file");
});
