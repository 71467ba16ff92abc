import { realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { ErrorCode, errorMessage, FlError } from "../../../errors.js";

/** Where a path a dataset names leads, once it is known to stay inside the allowed folders. */
export type Located =
  | { readonly kind: "inside"; readonly path: string }
  | { readonly kind: "missing"; readonly path: string }
  | { readonly kind: "outside"; readonly reason: string };

function within(path: string, base: string): boolean {
  const rel = relative(base, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

async function realFolder(path: string, what: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    throw new FlError(ErrorCode.DataError, `${path}: cannot open the ${what} (${errorMessage(error)})`, {
      cause: error,
    });
  }
}

/**
 * The folders a dataset's files may come from: its root and any extra roots the config allows.
 * Every path a CSV row or the folder walk names is checked twice: as written (`../`, absolute
 * paths) and after resolving symbolic links, so that a file at a hospital cannot make the loader
 * read /etc/hostname or another patient archive.
 */
export class DatasetPaths {
  private constructor(
    readonly root: string,
    private readonly lexical: readonly string[],
    private readonly real: readonly string[],
  ) {}

  static async create(root: string, extraRoots: readonly string[] = []): Promise<DatasetPaths> {
    const lexical = [resolve(root), ...extraRoots.map((r) => resolve(root, r))];
    const real = await Promise.all(
      lexical.map((folder, k) => realFolder(folder, k === 0 ? "dataset root" : "allowed root")),
    );
    return new DatasetPaths(lexical[0] as string, lexical, real);
  }

  private describeRoots(): string {
    const extra = this.lexical.slice(1);
    return extra.length === 0
      ? `the dataset root ${this.root}`
      : `the dataset root ${this.root} and the allowed roots ${extra.join(", ")}`;
  }

  /** Resolves `entry` (relative to `base`, default the root) and confines it. */
  async locate(entry: string, base: string = this.root): Promise<Located> {
    const path = resolve(base, entry);
    if (!this.lexical.some((folder) => within(path, folder))) {
      return {
        kind: "outside",
        reason: `"${entry}" resolves to ${path}, outside ${this.describeRoots()}; add its folder to data.allowedRoots if it belongs to the dataset`,
      };
    }
    let target: string;
    try {
      target = await realpath(path);
    } catch {
      return { kind: "missing", path };
    }
    if (!this.real.some((folder) => within(target, folder))) {
      return {
        kind: "outside",
        reason: `"${entry}" is a symbolic link to ${target}, outside ${this.describeRoots()}; add its folder to data.allowedRoots if it belongs to the dataset`,
      };
    }
    return { kind: "inside", path: target };
  }
}
