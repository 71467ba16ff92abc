import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Identity,
  identityFromJson,
  type PublicIdentity,
  publicIdentityFromJson,
} from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";

export function readIdentityFile(path: string): Identity {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `cannot read identity file ${path}: ${errorMessage(error)}. Create one with 'fl keys generate'.`,
      { cause: error },
    );
  }
  return identityFromJson(text, path);
}

export function readPublicIdentityFile(path: string): PublicIdentity {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `cannot read public key file ${path}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  return publicIdentityFromJson(text, path);
}

/** The allowlist: every `*.public.json` in the folder enrols one site (its id is inside the file). */
export function readEnrolledSites(dir: string): Map<string, PublicIdentity> {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith(".public.json"))
      .sort();
  } catch (error) {
    throw new FlError(ErrorCode.InvalidConfig, `cannot read sitesDir ${dir}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  const sites = new Map<string, PublicIdentity>();
  for (const file of files) {
    const site = readPublicIdentityFile(join(dir, file));
    if (sites.has(site.id))
      throw new FlError(ErrorCode.InvalidConfig, `site "${site.id}" is enrolled twice in ${dir}`);
    sites.set(site.id, site);
  }
  if (sites.size === 0) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `no enrolled sites in ${dir}: copy each hospital's <id>.public.json there`,
    );
  }
  return sites;
}
