import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Writes a file so that readers see either the old content or the whole new content, never a
 * torn file, even if the process or machine dies mid-write: write a temp file in the same
 * folder, fsync it, rename over the target, fsync the folder.
 *
 * `mode` (default 0o644, less the umask) is given when the temp file is created, so a secret
 * written with `{ mode: 0o600 }` is never readable by others, not even between write and rename.
 * The temp file is created exclusively (O_EXCL): a stale or planted file of that name, or a
 * symlink, is never reused with its old permissions.
 */
export function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number } = {},
): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", options.mode ?? 0o644);
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw error;
  }
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
