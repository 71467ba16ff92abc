import { execFile } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, expect, it } from "vitest";
import {
  generateIdentity,
  type Identity,
  keyFingerprint,
  publicIdentity,
  publicIdentityToJson,
} from "../../../shared/src/crypto/index.js";
import { FakeSite } from "../../helpers/fake-site.js";
import { startOperatorCoordinator } from "../../helpers/operator-coordinator.js";

// `fl sites` as an operator runs it, against a real `fl coordinator` process: enrolment and
// revocation take effect without a restart, and stay in the sitesDir for the next start.
const FL_BIN = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const run = promisify(execFile);
const closers: (() => void)[] = [];
const sites: FakeSite[] = [];

afterEach(() => {
  for (const site of sites.splice(0)) site.close();
  for (const close of closers.splice(0)) close();
});

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
  const coordinator = await startOperatorCoordinator({
    federationId: "ops",
    siteIds: ["alpha"],
    // Nothing starts until alpha and a second site are there: the run outlives the test.
    minSites: 2,
  });
  closers.push(coordinator.close);
  const { dir, coordinatorIdentity, grpcAddress } = coordinator;
  const [alpha] = coordinator.sites as [Identity];
  const gamma = generateIdentity("gamma");
  writeFileSync(join(dir, "gamma.public.json"), publicIdentityToJson(publicIdentity(gamma)));
  const site = (identity: Identity) => {
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
