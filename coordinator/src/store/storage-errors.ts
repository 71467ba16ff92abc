import { ErrorCode, errorMessage, FlError } from "../../../shared/src/errors.js";

/** better-sqlite3's codes for a write the disk or file system refused (SQLITE_IOERR_WRITE, …). */
const STORAGE_CODES = /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY)/;

function isStorageFailure(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && STORAGE_CODES.test(code);
}

/**
 * The store, with every storage failure of its methods (a full disk, an I/O error, a read-only
 * file system) rethrown as an `FlError` that names the database file and what to do. SQLite
 * rolls the failed transaction back, so the state stays as it was; other errors pass unchanged.
 */
export function namingDatabaseFile<T extends object>(store: T, path: string): T {
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        try {
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (error) {
          if (!isStorageFailure(error)) throw error;
          throw new FlError(
            ErrorCode.Internal,
            `cannot write the federation state ${path}: ${errorMessage(error)}. The transaction was rolled ` +
              "back; free space on that disk (or fix it) and start the coordinator again: it resumes after the " +
              "last committed round.",
            { cause: error },
          );
        }
      };
    },
  });
}
