import { mkdirSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { readPublicIdentityFile } from "../../shared/src/config/key-files.js";
import { type PublicIdentity, publicIdentityToJson } from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import { writeFileAtomic } from "../../shared/src/io/atomic-file.js";
import type { EnrolmentFiles } from "./federation/enrolment.js";

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

/**
 * Keeps run-time enrolment changes in the sitesDir, so that a restart starts from them: an
 * enrolled site's public identity is written as <id>.public.json; a revoked site's file moves
 * to revoked/ (kept for the record, never read at start).
 */
export function sitesDirFiles(dir: string): EnrolmentFiles {
  return {
    enrolled(site) {
      writeFileAtomic(join(dir, `${site.id}.public.json`), publicIdentityToJson(site), { mode: 0o644 });
    },
    revoked(siteId) {
      const revokedDir = join(dir, "revoked");
      mkdirSync(revokedDir, { recursive: true });
      for (const file of readdirSync(dir).filter((f) => f.endsWith(".public.json"))) {
        if (readPublicIdentityFile(join(dir, file)).id !== siteId) continue;
        renameSync(
          join(dir, file),
          join(revokedDir, `${file}.${new Date().toISOString().replaceAll(":", "-")}`),
        );
      }
    },
  };
}
