import { open, readdir, readFile, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { ErrorCode, errorMessage, FlError } from "../../../errors.js";
import type { BadItemLog } from "../bad-items.js";
import { type DicomHeader, readDicomHeader } from "../dicom/decode.js";
import type { DatasetPaths } from "./paths.js";

const IMAGE_EXTENSIONS = /\.(dcm|dicom|png|jpe?g)$/i;

/**
 * All image files under `dir` (recursive), as paths relative to `dir` with "/" separators,
 * sorted. Symbolic links are followed only where they lead inside `paths`' folders; one that
 * leads out is reported as a bad item and left out.
 */
export async function listImageFiles(
  dir: string,
  paths: DatasetPaths,
  badItems: BadItemLog,
): Promise<string[]> {
  const out: string[] = [];
  const visited = new Set<string>();
  const walk = async (current: string, real: string): Promise<void> => {
    // A link back to an ancestor folder would otherwise be walked for ever.
    if (visited.has(real)) return;
    visited.add(real);
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch (error) {
      throw new FlError(ErrorCode.DataError, `${current}: cannot list folder (${errorMessage(error)})`, {
        cause: error,
      });
    }
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path, join(real, entry.name));
      else if (entry.isFile()) {
        if (IMAGE_EXTENSIONS.test(entry.name)) out.push(relative(dir, path).split(sep).join("/"));
      } else if (entry.isSymbolicLink()) {
        const located = await paths.locate(path);
        if (located.kind === "outside") {
          badItems.report("path-outside-root", path, located.reason);
          continue;
        }
        if (located.kind === "missing") continue; // a dangling link names no file
        const target = await stat(located.path);
        if (target.isDirectory()) await walk(path, located.path);
        else if (target.isFile() && IMAGE_EXTENSIONS.test(entry.name))
          out.push(relative(dir, path).split(sep).join("/"));
      }
    }
  };
  const located = await paths.locate(dir);
  if (located.kind === "outside") throw new FlError(ErrorCode.DataError, `${dir}: ${located.reason}`);
  await walk(dir, located.path);
  return out.sort();
}

export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new FlError(ErrorCode.DataError, `${path}: cannot read the ${what} (${errorMessage(error)})`, {
      cause: error,
    });
  }
}

const HEADER_PROBE_BYTES = 64 * 1024;
/** A header (everything before the pixel data) longer than this is refused, not read. */
const MAX_HEADER_FILE_BYTES = 64 * 2 ** 20;

async function readPrefix(path: string, length: number): Promise<Buffer> {
  let handle: import("node:fs/promises").FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new FlError(ErrorCode.DataError, `${path}: cannot read (${errorMessage(error)})`, { cause: error });
  }
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.min(size, length));
    await handle.read(buffer, 0, buffer.length, 0);
    return buffer;
  } finally {
    await handle.close();
  }
}

/**
 * Reads a DICOM file's identifying header from its first 64 KiB (up to 64 MiB only when the
 * header is longer), so that grouping a large archive does not read its pixels.
 */
export async function readDicomHeaderFromFile(path: string): Promise<DicomHeader> {
  const probe = await readPrefix(path, HEADER_PROBE_BYTES);
  try {
    return readDicomHeader(probe, path);
  } catch (error) {
    if (probe.length < HEADER_PROBE_BYTES) throw error;
  }
  const longer = await readPrefix(path, MAX_HEADER_FILE_BYTES);
  try {
    return readDicomHeader(longer, path);
  } catch (error) {
    if (longer.length < MAX_HEADER_FILE_BYTES) throw error;
    throw new FlError(
      ErrorCode.TooLarge,
      `${path}: no DICOM header ends within its first ${MAX_HEADER_FILE_BYTES} bytes; refusing to read further`,
      { cause: error },
    );
  }
}
