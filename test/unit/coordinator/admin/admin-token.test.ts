import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { ADMIN_TOKEN_PREFIX, loadOrCreateAdminToken } from "../../../../coordinator/src/admin/server.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const dir = mkdtempSync(join(tmpdir(), "fl-admin-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("creates the token file and its missing folder on a first start, then reads the same token", () => {
  const path = join(dir, "secrets", "admin.token");
  const lines: string[] = [];
  const token = loadOrCreateAdminToken(path, (line) => lines.push(line));
  expect(token.startsWith(ADMIN_TOKEN_PREFIX)).toBe(true);
  expect(readFileSync(path, "utf8")).toBe(`${token}\n`);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(statSync(join(dir, "secrets")).mode & 0o077).toBe(0);
  expect(lines).toEqual([`operator token created in ${path} (mode 600): fl status --token-file reads it`]);
  expect(loadOrCreateAdminToken(path, () => {})).toBe(token);
});

// A read-only folder cannot stop root (CI runs as root); a file in the folder's place can.
it("names the file when a file stands where its folder should be", () => {
  writeFileSync(join(dir, "not-a-folder"), "");
  expectFlError(
    () => loadOrCreateAdminToken(join(dir, "not-a-folder", "admin.token"), () => {}),
    ErrorCode.InvalidConfig,
    `cannot create admin.tokenFile ${join(dir, "not-a-folder", "admin.token")}`,
    "point it at a writable folder",
  );
});
