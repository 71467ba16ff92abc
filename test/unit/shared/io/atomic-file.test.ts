import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { writeFileAtomic } from "../../../../shared/src/io/atomic-file.js";

const dir = mkdtempSync(join(tmpdir(), "fl-atomic-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const umask = process.umask();

it.skipIf(process.platform === "win32")("creates the file with the requested mode, 0644 by default", () => {
  writeFileAtomic(join(dir, "secret"), "s", { mode: 0o600 });
  writeFileAtomic(join(dir, "public"), "p");
  expect(statSync(join(dir, "secret")).mode & 0o777).toBe(0o600 & ~umask);
  expect(statSync(join(dir, "public")).mode & 0o777).toBe(0o644 & ~umask);
  // Replacing a file gives the new file the requested mode, not the old file's.
  writeFileAtomic(join(dir, "public"), "secret now", { mode: 0o600 });
  expect(statSync(join(dir, "public")).mode & 0o777).toBe(0o600 & ~umask);
  expect(readFileSync(join(dir, "public"), "utf8")).toBe("secret now");
  expect(readdirSync(dir).sort()).toEqual(["public", "secret"]);
});
