import { type ChildProcess, execFile } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, expect, it } from "vitest";
import {
  generateIdentity,
  identityToJson,
  keyFingerprint,
  publicIdentity,
  publicIdentityToJson,
} from "../../../shared/src/crypto/index.js";
import { forkTypeScript } from "../../../shared/src/io/ts-child.js";
import { FakeSite } from "../../helpers/fake-site.js";

// `fl sites` as an operator runs it, against a real `fl coordinator` process: enrolment and
// revocation take effect without a restart, and stay in the sitesDir for the next start.
const FL_TS = fileURLToPath(new URL("../../../cli/fl.ts", import.meta.url));
const FL_BIN = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const run = promisify(execFile);
const dirs: string[] = [];
const children: ChildProcess[] = [];
const sites: FakeSite[] = [];

afterEach(() => {
  for (const site of sites.splice(0)) site.close();
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function flSites(
  dir: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [FL_BIN, "sites", ...args, "--run", dir], {
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

it("enrols and revokes hospitals at a running coordinator with fl sites", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fl-sites-"));
  dirs.push(dir);
  const coordinatorIdentity = generateIdentity("coordinator");
  const alpha = generateIdentity("alpha");
  const gamma = generateIdentity("gamma");
  mkdirSync(join(dir, "sites"));
  writeFileSync(join(dir, "coordinator.identity.json"), identityToJson(coordinatorIdentity), { mode: 0o600 });
  writeFileSync(join(dir, "sites", "alpha.public.json"), publicIdentityToJson(publicIdentity(alpha)));
  writeFileSync(join(dir, "gamma.public.json"), publicIdentityToJson(publicIdentity(gamma)));
  writeFileSync(
    join(dir, "coordinator.json"),
    JSON.stringify({
      federationId: "ops",
      listen: "127.0.0.1:0",
      stateDir: ".",
      identity: "coordinator.identity.json",
      sitesDir: "sites",
      insecure: true,
      admin: { listen: "127.0.0.1:0", tokenFile: "admin.token" },
      model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
      plan: {
        phases: [{ name: "supervised", task: "classify", rounds: 1 }],
        minSites: 2,
        roundTimeoutSec: 120,
        evaluateEvery: 0,
        evaluationTimeoutSec: 60,
        maxRoundAttempts: 1,
      },
      limits: { heartbeatIntervalMs: 200, heartbeatTimeoutSec: 60 },
    }),
  );
  const coordinator = forkTypeScript(FL_TS, ["coordinator", "--config", join(dir, "coordinator.json")], {
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  children.push(coordinator);
  const readAddr = (name: string) =>
    existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8").trim() : undefined;
  const grpcAddress = await waitFor(() => readAddr("coordinator.addr"), "coordinator.addr");
  await waitFor(() => readAddr("admin.addr"), "admin.addr");
  const site = (identity: typeof alpha) => {
    const s = new FakeSite(grpcAddress, identity, publicIdentity(coordinatorIdentity), undefined, "ops");
    sites.push(s);
    return s;
  };

  // gamma is not enrolled yet: refused.
  await expect(site(gamma).join()).rejects.toMatchObject({ code: "FL_UNKNOWN_SITE" });

  const added = await flSites(dir, "add", join(dir, "gamma.public.json"));
  expect(added.code).toBe(0);
  const fingerprint = keyFingerprint(gamma.signing.publicKey);
  expect(added.stdout).toContain(`gamma  signing ${fingerprint}`);
  expect(added.stdout).toContain("enrolled gamma");
  expect(readdirSync(join(dir, "sites")).sort()).toEqual(["alpha.public.json", "gamma.public.json"]);

  const listed = await flSites(dir, "list");
  expect(listed.stdout.split("\n").filter(Boolean)).toEqual([
    `alpha  signing ${keyFingerprint(alpha.signing.publicKey)}  encryption ${keyFingerprint(alpha.encryption.publicKey)}`,
    `gamma  signing ${fingerprint}  encryption ${keyFingerprint(gamma.encryption.publicKey)}`,
  ]);

  // Enrolled without a restart: gamma joins now.
  const joined = site(gamma);
  await joined.join();

  const revoked = await flSites(dir, "revoke", "gamma", "--reason", "left the consortium");
  expect(revoked).toMatchObject({ code: 0, stdout: "revoked gamma\n" });
  // Its session ended at once, and it cannot join again.
  await expect(joined.nextTask(3_000)).rejects.toThrow();
  await expect(site(gamma).join()).rejects.toMatchObject({ code: "FL_UNKNOWN_SITE" });
  expect(readdirSync(join(dir, "sites"))).toContain("revoked");
  expect(readdirSync(join(dir, "sites")).filter((f) => f.endsWith(".public.json"))).toEqual([
    "alpha.public.json",
  ]);

  const unknown = await flSites(dir, "revoke", "nobody");
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain('site "nobody" is not enrolled');
});
