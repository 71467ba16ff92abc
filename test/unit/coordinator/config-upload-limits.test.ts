import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { loadCoordinatorConfig, uploadLimitsOf } from "../../../coordinator/src/config.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";

const dir = mkdtempSync(join(tmpdir(), "fl-config-uploads-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function configWith(limits: Record<string, unknown> | undefined): string {
  const path = join(dir, `config-${++files}.json`);
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
      ...(limits && { limits }),
    }),
  );
  return path;
}

it("defaults the upload limits, with or without a limits block", () => {
  const expected = { idleTimeoutMs: 60_000, deadlineMs: 1_800_000, burst: 10, attemptsPerMinute: 60 };
  expect(uploadLimitsOf(loadCoordinatorConfig(configWith(undefined)).limits)).toEqual(expected);
  expect(uploadLimitsOf(loadCoordinatorConfig(configWith({ maxUpdateBytes: 1024 })).limits)).toEqual(
    expected,
  );
});

it("takes seconds and counts from the config", () => {
  const limits = loadCoordinatorConfig(
    configWith({
      uploadIdleTimeoutSec: 5,
      uploadDeadlineSec: 90,
      uploadBurst: 2,
      uploadAttemptsPerMinute: 0.5,
    }),
  ).limits;
  expect(uploadLimitsOf(limits)).toEqual({
    idleTimeoutMs: 5000,
    deadlineMs: 90_000,
    burst: 2,
    attemptsPerMinute: 0.5,
  });
});

it("refuses limits that would stop every upload, naming the key", () => {
  for (const [key, value] of [
    ["uploadIdleTimeoutSec", 0],
    ["uploadDeadlineSec", -1],
    ["uploadBurst", 0],
    ["uploadBurst", 1.5],
    ["uploadAttemptsPerMinute", 0],
    ["maxConcurrentUploads", 0],
    ["maxConcurrentUploads", 2.5],
  ] as const)
    expectFlError(
      () => loadCoordinatorConfig(configWith({ [key]: value })),
      ErrorCode.InvalidConfig,
      `limits.${key}`,
    );
});

it("reads 2 uploads at once unless limits.maxConcurrentUploads says otherwise", () => {
  expect(loadCoordinatorConfig(configWith(undefined)).limits.maxConcurrentUploads).toBe(2);
  expect(loadCoordinatorConfig(configWith({ maxConcurrentUploads: 5 })).limits.maxConcurrentUploads).toBe(5);
});
