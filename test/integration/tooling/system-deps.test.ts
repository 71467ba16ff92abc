import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// scripts/system-deps.sh, the install step of the README's first command and of .ci/run, run on
// copies of itself beside lists made here, with a recording stand-in for apt-get first on the
// PATH so that no run can change the machine.
const root = fileURLToPath(new URL("../../../", import.meta.url));
const script = join(root, "scripts/system-deps.sh");
const listed = readFileSync(join(root, "scripts/system-packages.txt"), "utf8")
  .split("\n")
  .map((line) => line.replace(/#.*/, "").trim())
  .filter((line) => line !== "");
const NOT_A_PACKAGE = "fl-test-no-such-package";
const isRoot = process.getuid?.() === 0;
const hasDpkg = spawnSync("dpkg-query", ["--version"]).status === 0;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the script with the given list, and an apt-get that records its calls. */
function setUp(packages: readonly string[]): { dir: string; record: string } {
  const dir = mkdtempSync(join(tmpdir(), "fl-system-deps-"));
  dirs.push(dir);
  chmodSync(dir, 0o777); // the unprivileged run reads the copy and may try to write the record
  copyFileSync(script, join(dir, "system-deps.sh"));
  writeFileSync(join(dir, "system-packages.txt"), `# made by the test\n${packages.join("   # why\n")}\n`);
  const record = join(dir, "apt-get.calls");
  writeFileSync(join(dir, "apt-get"), `#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> ${record}\n`, {
    mode: 0o755,
  });
  return { dir, record };
}

function runScript(dir: string, asUser: "nobody" | "root") {
  const env = { PATH: `${dir}:/usr/sbin:/usr/bin:/sbin:/bin` };
  const command = ["sh", join(dir, "system-deps.sh")];
  // As root, drop to nobody (uid 65534) for the unprivileged case; otherwise the test already is.
  const [file, ...args] =
    asUser === "nobody" && isRoot
      ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...command]
      : command;
  const result = spawnSync(file ?? "sh", args, { env, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe.skipIf(!hasDpkg)(
  hasDpkg ? "system-deps.sh" : "system-deps.sh: skipped, not a Debian machine (no dpkg-query)",
  () => {
    it("lists the packages the tests need", () => {
      for (const needed of ["nats-server", "openssl", "tmux", "iproute2"]) expect(listed).toContain(needed);
    });

    it("as an unprivileged user, prints the one install command with every listed package and changes nothing", () => {
      const packages = [...listed, NOT_A_PACKAGE];
      const { dir, record } = setUp(packages);
      const { status, output } = runScript(dir, "nobody");
      expect(status).toBe(0);
      expect(output).toContain(`missing `);
      expect(output).toContain(NOT_A_PACKAGE);
      expect(output.split("\n").map((line) => line.trim())).toContain(
        `sudo apt-get update && sudo apt-get install -y ${packages.join(" ")}`,
      );
      expect(existsSync(record), "apt-get was not run").toBe(false);
    });

    it.skipIf(!isRoot)(
      "as root, installs the whole list with apt-get update and install -y when one is missing",
      () => {
        const packages = [...listed, NOT_A_PACKAGE];
        const { dir, record } = setUp(packages);
        const { status } = runScript(dir, "root");
        expect(status).toBe(0);
        expect(readFileSync(record, "utf8")).toBe(
          `noninteractive update\nnoninteractive install -y ${packages.join(" ")}\n`,
        );
      },
    );

    it("calls no apt-get when everything is installed", () => {
      // dpkg is installed on every Debian machine, so nothing is missing from this list.
      const { dir, record } = setUp(["dpkg"]);
      const { status, output } = runScript(dir, isRoot ? "root" : "nobody");
      expect(status).toBe(0);
      expect(output).toContain("all installed (dpkg)");
      expect(existsSync(record)).toBe(false);
    });
  },
);

describe("the install step is the one used everywhere", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };

  it("is run by `npm run simulate` before the simulation, and by `npm run setup:system`", () => {
    expect(pkg.scripts["setup:system"]).toBe("sh scripts/system-deps.sh");
    expect(pkg.scripts.simulate).toMatch(/^sh scripts\/system-deps\.sh && node bin\/fl\.js simulate$/);
  });

  it("is what .ci/run installs with, before npm test, with no package list of its own", () => {
    const ci = readFileSync(join(root, ".ci/run"), "utf8");
    const lines = ci.split("\n").filter((line) => !line.trimStart().startsWith("#"));
    const step = lines.findIndex((line) => line.trim() === "sh scripts/system-deps.sh");
    expect(step).toBeGreaterThanOrEqual(0);
    expect(step).toBeLessThan(lines.findIndex((line) => line.trim() === "npm test"));
    expect(lines.join("\n")).not.toMatch(/apt-get/);
  });

  it("is named by the README's first command", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    expect(readme).toMatch(/^npm ci && npm run simulate {2,}#/m);
    expect(readme).toContain("scripts/system-packages.txt");
  });
});
