import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// `npm run check:deps` only proves something if its rules fail on a violation. These cases run
// the real dependency-cruiser CLI with the project's own .dependency-cruiser.cjs on fixture trees
// under test/fixtures/ (which the real check leaves out), so a rule that stops matching, or a
// config change that silences it, fails here.

const root = fileURLToPath(new URL("../../../", import.meta.url));
const cli = `${root}node_modules/dependency-cruiser/bin/dependency-cruise.mjs`;
const config = `${root}.dependency-cruiser.cjs`;

interface Run {
  readonly code: number;
  readonly output: string;
}

/** Runs depcruise from `cwd` on `paths`; resolves with the exit code instead of rejecting. */
function depcruise(cwd: string, paths: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, "--config", config, "--output-type", "err-long", ...paths],
      { cwd },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe("dependency rules (npm run check:deps)", () => {
  it("fail on an import cycle and name the rule and both files", async () => {
    const run = await depcruise(root, ["test/fixtures/import-cycle"]);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain("error no-circular");
    expect(run.output).toContain("test/fixtures/import-cycle/even.ts");
    expect(run.output).toContain("test/fixtures/import-cycle/odd.ts");
  });

  // The fixture mirrors the repository's layout (shared/src/metrics, shared/src/weights,
  // shared/src/io) and depcruise runs from inside it, so the project's path rules apply as they
  // are, without a second config that could drift from the real one.
  const layers = fileURLToPath(new URL("../../fixtures/layer-violation/", import.meta.url));

  it("fail when a pure layer imports node:fs, directly or through a helper", async () => {
    const run = await depcruise(layers, ["shared"]);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain("error pure-no-io: shared/src/metrics/reads-file.ts → fs");
    expect(run.output).toContain("error pure-no-io: shared/src/weights/reads-through-helper.ts → fs");
    // The helper itself is outside the pure layers and may read files.
    expect(run.output).not.toMatch(/error \S+: shared\/src\/io\//);
  });

  it("pass on the same tree without the pure layers (the rules do not reject everything)", async () => {
    const run = await depcruise(layers, ["shared/src/io"]);
    expect(run.output).toContain("no dependency violations found");
    expect(run.code).toBe(0);
  });
});
