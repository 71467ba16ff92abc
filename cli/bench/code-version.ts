import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** What computes results; not bench/results or docs, which a benchmark's own output may change. */
const CODE_PATHS = [
  "shared",
  "coordinator",
  "client",
  "cli",
  "proto",
  "bin",
  "package.json",
  "package-lock.json",
];

/**
 * The version of the code that computes the results: the git commit, plus a short hash of the
 * uncommitted changes to tracked files when there are any (so an edited work tree does not pass
 * for its commit), or the package version outside git (an npm install). FL_CODE_VERSION, when
 * set, is taken as it is: a container image built without .git can carry its commit in it.
 */
export function codeVersion(root: string = ROOT, env: NodeJS.ProcessEnv = process.env): string {
  const given = env.FL_CODE_VERSION?.trim();
  if (given) return given;
  const git = (args: string[]) => {
    const result = spawnSync("git", args, { cwd: root, encoding: "utf8", maxBuffer: 256 << 20 });
    return result.status === 0 && !result.error ? result.stdout : undefined;
  };
  const commit = git(["rev-parse", "HEAD"])?.trim();
  if (commit && /^[0-9a-f]{40,64}$/.test(commit)) {
    const diff = git(["diff", "HEAD", "--", ...CODE_PATHS]);
    if (diff === undefined || diff === "") return commit;
    return `${commit}+${createHash("sha256").update(diff).digest("hex").slice(0, 12)}`;
  }
  try {
    const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as {
      name?: string;
      version?: string;
    };
    return `${pkg.name ?? "package"}@${pkg.version ?? "unknown"}`;
  } catch {
    return "unknown";
  }
}
