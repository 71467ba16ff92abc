import { closeSync, fstatSync, openSync, readFileSync, type Stats } from "node:fs";
import {
  type Identity,
  identityFromJson,
  type PublicIdentity,
  publicIdentityFromJson,
} from "../crypto/index.js";
import { ErrorCode, errorMessage, FlError } from "../errors.js";
import { readTextFile } from "./load.js";

/** The mode secret identity files are created with (`fl keys generate`, `fl simulate`). */
export const SECRET_FILE_MODE = 0o600;

/**
 * A secret identity file written by `fl keys generate`. Refused, like ssh refuses a private key,
 * when its permissions let other users read it (see checkSecretFileMode).
 */
export function readIdentityFile(path: string): Identity {
  const hint = "Create one with 'fl keys generate'.";
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw cannotRead(path, error, hint);
  }
  let text: string;
  try {
    // fstat the descriptor that is read, so the file checked is the file loaded.
    checkSecretFileMode(path, fstatSync(fd));
    text = readFileSync(fd, "utf8");
  } catch (error) {
    if (error instanceof FlError) throw error;
    throw cannotRead(path, error, hint);
  } finally {
    closeSync(fd);
  }
  return identityFromJson(text, path);
}

/**
 * Throws FlError(InvalidConfig) naming the file, its mode and the fix when a secret key file is
 * too open. As in ssh, a file owned by this process's user must have no group or other bits
 * (mode & 0o077 == 0). A file owned by another user can only be read through its group, as with
 * Kubernetes Secret volumes (root:fsGroup, defaultMode 0440), so there only the "others" bits are
 * refused. Skipped on Windows, where POSIX modes do not describe who can read a file (Node reports
 * 0o666 or 0o444 whatever the ACLs say).
 */
export function checkSecretFileMode(path: string, stats: Pick<Stats, "mode" | "uid">): void {
  if (process.platform === "win32") return;
  const permissions = stats.mode & 0o777;
  const ownedByUs = process.getuid === undefined || stats.uid === process.getuid();
  const tooOpen = ownedByUs ? permissions & 0o077 : permissions & 0o007;
  if (tooOpen === 0) return;
  const octal = permissions.toString(8).padStart(4, "0");
  throw new FlError(
    ErrorCode.InvalidConfig,
    `identity file ${path} has mode ${octal}, so other users can read its secret keys; it is refused (like ssh refuses an unprotected private key). Fix: chmod 600 ${path}`,
  );
}

/** A public key file (`<id>.public.json`). */
export function readPublicIdentityFile(path: string): PublicIdentity {
  return publicIdentityFromJson(readTextFile(path, "public key file"), path);
}

function cannotRead(path: string, error: unknown, hint: string): FlError {
  return new FlError(
    ErrorCode.InvalidConfig,
    `cannot read identity file ${path}: ${errorMessage(error)}. ${hint}`,
    {
      cause: error,
    },
  );
}
