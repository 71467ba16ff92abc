import { open, readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { ErrorCode, errorMessage, FlError } from "../../../errors.js";
import { type DicomHeader, readDicomHeader } from "../dicom/decode.js";

const IMAGE_EXTENSIONS = /\.(dcm|dicom|png|jpe?g)$/i;

/** All image files under `dir` (recursive), as paths relative to `dir` with "/" separators, sorted. */
export async function listImageFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string): Promise<void> => {
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
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && IMAGE_EXTENSIONS.test(entry.name))
        out.push(relative(dir, path).split(sep).join("/"));
    }
  };
  await walk(dir);
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

/**
 * Reads a DICOM file's identifying header from its first 64 KiB (the whole file only when the
 * header is longer), so that grouping a large archive does not read its pixels.
 */
export async function readDicomHeaderFromFile(path: string): Promise<DicomHeader> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, HEADER_PROBE_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, 0);
    try {
      return readDicomHeader(buffer, path);
    } catch (error) {
      if (length === size) throw error;
      return readDicomHeader(await readFile(path), path);
    }
  } finally {
    await handle.close();
  }
}
