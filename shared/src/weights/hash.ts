import { createHash } from "node:crypto";

/** Lower-case hex SHA-256 of one buffer, or of several taken as one concatenated stream. */
export function sha256Hex(data: Uint8Array | readonly Uint8Array[]): string {
  const hash = createHash("sha256");
  if (data instanceof Uint8Array) {
    hash.update(data);
  } else {
    for (const part of data) hash.update(part);
  }
  return hash.digest("hex");
}
