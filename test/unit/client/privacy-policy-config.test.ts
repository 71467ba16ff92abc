import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { loadClientConfig } from "../../../client/src/config.js";
import { DEFAULT_PRIVACY_POLICY } from "../../../client/src/privacy-policy.js";
import { isFlError } from "../../../shared/src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "fl-client-privacy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, privacy?: unknown): string {
  const path = join(dir, `${name}.yaml`);
  const config = {
    siteId: "st-marys",
    federationId: "cxr",
    coordinator: "fl.example.org:50051",
    identity: "keys/st-marys.identity.json",
    coordinatorPublicKey: "keys/coordinator.public.json",
    data: { kind: "synthetic", preset: "3-hospitals" },
    workDir: "work",
    insecure: true,
    ...(privacy !== undefined && { privacy }),
  };
  writeFileSync(path, JSON.stringify(config));
  return path;
}

it("a client config without a privacy block gets the policy that refuses nothing", () => {
  expect(loadClientConfig(write("none")).privacy).toEqual(DEFAULT_PRIVACY_POLICY);
});

it("reads the privacy block, filling the rest with defaults", () => {
  const config = loadClientConfig(
    write("some", { minCohort: 3, share: ["enc.*"], requireDp: "distributed", maxEpsilon: 4 }),
  );
  expect(config.privacy).toEqual({
    ...DEFAULT_PRIVACY_POLICY,
    minCohort: 3,
    share: ["enc.*"],
    requireDp: "distributed",
    maxEpsilon: 4,
  });
});

function errorOf(name: string, privacy: unknown): Error {
  try {
    loadClientConfig(write(name, privacy));
  } catch (error) {
    expect(isFlError(error, "FL_INVALID_CONFIG")).toBe(true);
    return error as Error;
  }
  throw new Error("expected the config to be refused");
}

it("refuses a bad privacy block naming the file, the key and what to do", () => {
  const contradiction = errorOf("noised", { classCounts: "noised" }).message;
  expect(contradiction).toContain("noised.yaml");
  expect(contradiction).toContain(
    "privacy.classCountSigma: classCounts: noised needs classCountSigma, the standard deviation",
  );
  expect(errorOf("value", { evaluation: "some" }).message).toMatch(
    /privacy\.evaluation: .*"full"\|"pooled"\|"none"/,
  );
  expect(errorOf("key", { minCohorts: 3 }).message).toContain('privacy: Unrecognized key: "minCohorts"');
});
