import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkSecretFileMode, readIdentityFile } from "../../../../shared/src/config/key-files.js";
import { generateIdentity, identityToJson } from "../../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { seededRandom } from "../../../helpers/crypto-fixtures.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const dir = mkdtempSync(join(tmpdir(), "fl-key-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const identity = generateIdentity("st-marys", seededRandom(7));
const posix = process.platform !== "win32";
const uid = process.getuid?.() ?? 0;

function writeSecret(name: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, identityToJson(identity), { mode });
  chmodSync(path, mode); // exact, whatever the umask
  return path;
}

describe("readIdentityFile", () => {
  it("loads a secret identity file with mode 0600", () => {
    const path = writeSecret("ok.identity.json", 0o600);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readIdentityFile(path).id).toBe("st-marys");
  });

  it.skipIf(!posix)("refuses a 0644 secret file, naming the file, its mode and the fix (like ssh)", () => {
    const path = writeSecret("open.identity.json", 0o644);
    expectFlError(
      () => readIdentityFile(path),
      ErrorCode.InvalidConfig,
      path,
      "mode 0644",
      `chmod 600 ${path}`,
    );
  });

  it.skipIf(!posix)("refuses any group or other permission bit on a file this user owns", () => {
    for (const mode of [0o640, 0o604, 0o620, 0o602, 0o610, 0o601]) {
      const path = writeSecret(`m${mode.toString(8)}.identity.json`, mode);
      expectFlError(() => readIdentityFile(path), ErrorCode.InvalidConfig, `mode 0${mode.toString(8)}`);
    }
    expect(readIdentityFile(writeSecret("ro.identity.json", 0o400)).id).toBe("st-marys");
  });

  it("says how to create a missing identity file", () => {
    expectFlError(
      () => readIdentityFile(join(dir, "missing.identity.json")),
      ErrorCode.InvalidConfig,
      "cannot read identity file",
      "fl keys generate",
    );
  });
});

describe.skipIf(!posix)("checkSecretFileMode", () => {
  it("as ssh: a file owned by this user must have no group or other bits", () => {
    expect(() => checkSecretFileMode("k", { uid, mode: 0o100600 })).not.toThrow();
    expectFlError(
      () => checkSecretFileMode("k", { uid, mode: 0o100440 }),
      ErrorCode.InvalidConfig,
      "mode 0440",
    );
  });

  it("a file owned by another user (a Kubernetes Secret volume, root:fsGroup 0440) may be group-readable, never world-readable", () => {
    expect(() => checkSecretFileMode("k", { uid: uid + 1, mode: 0o100440 })).not.toThrow();
    expectFlError(
      () => checkSecretFileMode("k", { uid: uid + 1, mode: 0o100444 }),
      ErrorCode.InvalidConfig,
      "mode 0444",
      "chmod 600 k",
    );
  });
});
