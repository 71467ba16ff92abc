import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deserialize, serialize } from "node:v8";
import { writeFileAtomic } from "../../../shared/src/io/atomic-file.js";
import type { SiteSplits } from "../../../shared/src/ml/data/index.js";
import type { SiteRef } from "./worker-protocol.js";

/**
 * A virtual hospital's rendered images on disk, so that a site coming back to a worker (or to
 * another one) is read in milliseconds instead of rendered again (tens of ms an image). Named by
 * a hash of its data config and profile: a changed config never reads a stale file.
 */
export function cachedSiteSplits(
  cacheDir: string,
  site: SiteRef,
  render: () => Promise<SiteSplits>,
): Promise<SiteSplits> {
  const key = createHash("sha256")
    .update(JSON.stringify([site.baseSite, site.data]))
    .digest("hex")
    .slice(0, 16);
  const path = join(cacheDir, `${site.siteId}-${key}.v8`);
  if (existsSync(path)) return Promise.resolve(deserialize(readFileSync(path)) as SiteSplits);
  return render().then((splits) => {
    mkdirSync(cacheDir, { recursive: true });
    // Atomic, so that two workers rendering the same site, or a killed one, never leave half a file.
    writeFileAtomic(path, serialize(splits));
    return splits;
  });
}
