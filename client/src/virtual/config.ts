import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseConfig } from "../../../shared/src/config/load.js";

const SiteSchema = z
  .object({
    siteId: z.string().min(1),
    baseSite: z.string().min(1),
    data: z.record(z.string(), z.unknown()),
  })
  .strict();

/**
 * What the virtual hospitals' process runs: written by `fl simulate --virtual-sites` into the run
 * folder (virtual-sites.json), every path absolute.
 */
export const VirtualSitesConfigSchema = z
  .object({
    federationId: z.string().min(1),
    /** host:port of the coordinator. */
    coordinator: z.string().min(3),
    coordinatorPublicKey: z.string(),
    /** Folder of the sites' identity files, `<siteId>.identity.json`. */
    keysDir: z.string(),
    /** The run's CA and the folder of the sites' `<siteId>.crt` / `.key`; absent: plaintext. */
    tls: z.object({ ca: z.string(), sitesDir: z.string() }).strict().optional(),
    sites: z.array(SiteSchema).min(1),
    workers: z.number().int().min(1),
    backend: z.string().default("auto"),
    /** Caches of the workers. */
    workDir: z.string(),
    reconnectTimeoutSec: z.number().positive().default(60),
  })
  .strict();
export type VirtualSitesConfig = z.infer<typeof VirtualSitesConfigSchema>;

export function loadVirtualSitesConfig(path: string): VirtualSitesConfig {
  return parseConfig(VirtualSitesConfigSchema, JSON.parse(readFileSync(path, "utf8")), path);
}
