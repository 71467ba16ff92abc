import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import YAML from "yaml";
import type { z } from "zod";
import { ErrorCode, errorMessage, FlError } from "../errors.js";

/** Reads a UTF-8 file; a failure is an InvalidConfig error naming what the file is for. */
export function readTextFile(path: string, what: string, hint = ""): string {
  return readFileBytes(path, what, hint).toString("utf8");
}

/** Reads a file's bytes (certificates, keys); a failure names what the file is for. */
export function readFileBytes(path: string, what: string, hint = ""): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `cannot read ${what} ${path}: ${errorMessage(error)}.${hint ? ` ${hint}` : ""}`,
      {
        cause: error,
      },
    );
  }
}

/** Reads a JSON or YAML file into a plain value; errors name the file and what to do. */
export function readConfigFile(path: string): unknown {
  const text = readTextFile(
    path,
    "config file",
    "Check the path (relative paths are resolved from the current directory).",
  );
  try {
    return path.endsWith(".json") ? JSON.parse(text) : YAML.parse(text);
  } catch (error) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `config file ${path} is not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Keys that were renamed (a participating hospital is a "site" everywhere): a config that still
 * uses the old name is told the new one instead of only "unrecognized key".
 */
const RENAMED_KEYS: Readonly<Record<string, string>> = {
  minClients: "minSites",
  minAvailableClients: "minAvailableSites",
  clients: "sites",
};

/** Validates with a zod schema; every problem is listed with its key path. */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, source: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const renamed = issue.code === "unrecognized_keys" ? issue.keys.filter((k) => k in RENAMED_KEYS) : [];
    const hint = renamed.map((k) => `; "${k}" is now called "${RENAMED_KEYS[k]}"`).join("");
    return `  - ${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}${hint}`;
  });
  throw new FlError(ErrorCode.InvalidConfig, `invalid config in ${source}:\n${problems.join("\n")}`);
}

/** Paths in a config file are relative to the file, so a config folder can move as a whole. */
export function resolveFrom(configPath: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(configPath), path);
}
