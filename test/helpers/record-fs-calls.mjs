// Preload (`node --import`) that records the permission-relevant fs calls of a child process and
// prints them as JSON lines prefixed "fs-call " on stderr when it exits. Patching the fs object and
// then calling syncBuiltinESMExports() reaches `import { openSync } from "node:fs"` in ESM too.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

const calls = [];
const { openSync, renameSync, chmodSync, fchmodSync, chmod, fchmod, writeSync } = fs;

fs.openSync = (path, flags, mode) => {
  calls.push({ op: "open", path: String(path), flags: flags ?? "r", mode: mode ?? null });
  return openSync(path, flags, mode);
};
fs.renameSync = (from, to) => {
  calls.push({ op: "rename", from: String(from), to: String(to) });
  return renameSync(from, to);
};
fs.chmodSync = (path, mode) => {
  calls.push({ op: "chmod", path: String(path), mode });
  return chmodSync(path, mode);
};
fs.fchmodSync = (fd, mode) => {
  calls.push({ op: "fchmod", fd, mode });
  return fchmodSync(fd, mode);
};
fs.chmod = (path, mode, callback) => {
  calls.push({ op: "chmod", path: String(path), mode });
  return chmod(path, mode, callback);
};
fs.fchmod = (fd, mode, callback) => {
  calls.push({ op: "fchmod", fd, mode });
  return fchmod(fd, mode, callback);
};
syncBuiltinESMExports();

process.on("exit", () => {
  for (const call of calls) writeSync(2, `fs-call ${JSON.stringify(call)}\n`);
});
