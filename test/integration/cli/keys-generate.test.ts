import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { readIdentityFile } from "../../../shared/src/config/key-files.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";

const FL = fileURLToPath(new URL("../../../bin/fl.js", import.meta.url));
const RECORD_FS = fileURLToPath(new URL("../../helpers/record-fs-calls.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fl-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type FsCall =
  | { op: "open"; path: string; flags: string | number; mode: number | null }
  | { op: "rename"; from: string; to: string }
  | { op: "chmod"; path: string; mode: number }
  | { op: "fchmod"; fd: number; mode: number };

function fl(args: string[], preload: string[] = []) {
  const run = spawnSync(process.execPath, [...preload, FL, ...args], {
    cwd: dir,
    encoding: "utf8",
    timeout: 60_000,
  });
  const calls = run.stderr
    .split("\n")
    .filter((line) => line.startsWith("fs-call "))
    .map((line) => JSON.parse(line.slice("fs-call ".length)) as FsCall);
  return { ...run, calls };
}

describe.skipIf(process.platform === "win32")("fl keys generate: key file permissions", () => {
  const out = join(dir, "keys");
  const secretPath = join(out, "st-marys.identity.json");
  const publicPath = join(out, "st-marys.public.json");
  const umask = process.umask();

  it("creates the secret file 0600 from its first byte and the public file 0644", () => {
    const run = fl(["keys", "generate", "--id", "st-marys", "--out", out], ["--import", RECORD_FS]);
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain("mode 600");
    expect(statSync(secretPath).mode & 0o777).toBe(0o600);
    expect(statSync(publicPath).mode & 0o777).toBe(0o644 & ~umask);

    // Each file is written to a fresh temp file (O_EXCL) that is opened with its final mode and
    // renamed into place; nothing is chmod-ed afterwards, so the secret is never readable by others.
    const renameTo = (target: string) => {
      const rename = run.calls.find((c) => c.op === "rename" && c.to === target);
      expect(rename, `no rename onto ${target}: ${JSON.stringify(run.calls)}`).toBeDefined();
      return rename as Extract<FsCall, { op: "rename" }>;
    };
    const openOf = (tmp: string) =>
      run.calls.filter((c): c is Extract<FsCall, { op: "open" }> => c.op === "open" && c.path === tmp);
    const secretTmp = renameTo(secretPath).from;
    expect(basename(secretTmp)).toMatch(/^\.st-marys\.identity\.json\..*\.tmp$/);
    expect(openOf(secretTmp)).toEqual([{ op: "open", path: secretTmp, flags: "wx", mode: 0o600 }]);
    const publicTmp = renameTo(publicPath).from;
    expect(openOf(publicTmp)).toEqual([{ op: "open", path: publicTmp, flags: "wx", mode: 0o644 }]);
    expect(run.calls.filter((c) => c.op === "chmod" || c.op === "fchmod")).toEqual([]);
  });

  it("the generated 0600 secret file loads", () => {
    expect(readIdentityFile(secretPath).id).toBe("st-marys");
  });

  it("a secret file others can read is refused, with its mode and the fix", () => {
    chmodSync(secretPath, 0o644);
    try {
      expectFlError(
        () => readIdentityFile(secretPath),
        ErrorCode.InvalidConfig,
        secretPath,
        "mode 0644",
        `chmod 600 ${secretPath}`,
      );

      // The coordinator refuses to start with it, before it opens any state or port.
      const config = join(dir, "coordinator.json");
      writeFileSync(
        config,
        JSON.stringify({
          federationId: "perm",
          listen: "127.0.0.1:0",
          stateDir: "state",
          identity: secretPath,
          sitesDir: out,
          insecure: true,
          model: { architecture: "small-cnn", imageSize: 16, widths: [2], numClasses: 4, seed: 3 },
          plan: { phases: [{ name: "p", task: "classify", rounds: 1 }], minSites: 1 },
        }),
      );
      const run = fl(["coordinator", "--config", config]);
      expect(run.status, `${run.stdout}\n${run.stderr}`).not.toBe(0);
      expect(run.stderr).toContain(`${secretPath} has mode 0644`);
      expect(run.stderr).toContain(`chmod 600 ${secretPath}`);
    } finally {
      chmodSync(secretPath, 0o600);
    }
    expect(readIdentityFile(secretPath).id).toBe("st-marys");
  });
});
