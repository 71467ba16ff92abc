import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

interface Summary {
  backend: string;
  steps: { step: string; status: string; seconds: number; note: string }[];
}

const folders: string[] = [];
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

function runCheck(
  env: Record<string, string>,
  args: string[] = [],
): { status: number | null; stderr: string; out: string } {
  const out = mkdtempSync(join(tmpdir(), "gpu-check-"));
  folders.push(out);
  const result = spawnSync("bash", ["bench/gpu-check.sh", ...(args.length > 0 ? args : [out])], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env, OUT: "" },
  });
  return { status: result.status, stderr: result.stderr, out };
}

function summary(out: string): Summary {
  return JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Summary;
}

// This machine has no NVIDIA driver and no CUDA 11 libraries, and tfjs-node-gpu cannot be installed.
describe("bench/gpu-check.sh on a machine without the GPU backend", () => {
  it("reports the GPU steps unavailable with the loader's diagnosis, a summary and exit code 2", () => {
    const { status, out } = runCheck({ GPU_CHECK_BACKEND: "tensorflow-gpu" });
    expect(status).toBe(2);
    const { backend, steps } = summary(out);
    expect(backend).toBe("tensorflow-gpu");
    expect(steps.map((s) => [s.step, s.status])).toEqual([
      ["backend-load", "unavailable"],
      ["gradient-check", "unavailable"],
      ["train-bench", "unavailable"],
      ["simulate", "unavailable"],
    ]);
    expect(steps[0]?.note).toContain('backend "tensorflow-gpu" was requested but did not load');
    expect(steps[0]?.note).toMatch(/missing libcudart\.so\.11\.0 \(CUDA 11 runtime\)/);
    expect(steps[0]?.note).toContain("needs CUDA 11.2 or a later 11.x and cuDNN 8");
    const table = readFileSync(join(out, "summary.txt"), "utf8");
    expect(table).toMatch(/^backend-load\s+unavailable\s+\d+\s+backend "tensorflow-gpu"/m);
  });

  it("counts a step that breaks as failed (exit code 1), not as unavailable", () => {
    const { status, out } = runCheck({ GPU_CHECK_BACKEND: "no-such-backend" });
    expect(status).toBe(1);
    const [load] = summary(out).steps;
    expect(load?.status).toBe("failed");
    expect(load?.note).toContain('unknown backend "no-such-backend"');
  });

  it("refuses to run without an output folder", () => {
    const { status, stderr } = runCheck({}, [""]);
    expect(status).toBe(64);
    expect(stderr).toContain("usage: bash bench/gpu-check.sh OUT_DIR");
  });
});
