import { readdirSync } from "node:fs";
import { join } from "node:path";
import { readPublicIdentityFile } from "../../shared/src/config/key-files.js";
import type { PublicIdentity } from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";

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
