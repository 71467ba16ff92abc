import { z } from "zod";
import { parseConfig, readConfigFile, resolveFrom } from "../../shared/src/config/load.js";

export const ClientConfigSchema = z
  .object({
    /** Must match the id inside the identity file and the coordinator's enrolment. */
    siteId: z.string().min(1),
    /** host:port of the coordinator; the client always dials out. */
    coordinator: z.string().min(3),
    /** This hospital's identity file (secret; from `fl keys generate`). */
    identity: z.string(),
    /** The coordinator's public key file: updates are encrypted to it and joins are checked against it. */
    coordinatorPublicKey: z.string(),
    tls: z
      .object({ ca: z.string(), cert: z.string().optional(), key: z.string().optional() })
      .strict()
      .optional(),
    /** Where the site's images come from (see docs/data.md); validated by the data module. */
    data: z.record(z.string(), z.unknown()),
    /** Preprocessed-image cache and local state. */
    workDir: z.string(),
    /** auto | tensorflow-gpu | tensorflow | wasm | cpu */
    backend: z.string().default("auto"),
    /** How long to keep retrying while the coordinator is unreachable before giving up. */
    reconnectTimeoutSec: z.number().positive().default(300),
  })
  .strict();
export type ClientConfig = z.infer<typeof ClientConfigSchema>;

export function loadClientConfig(path: string): ClientConfig {
  const config = parseConfig(ClientConfigSchema, readConfigFile(path), path);
  const data = { ...config.data };
  if (typeof data.root === "string") data.root = resolveFrom(path, data.root);
  return Object.freeze({
    ...config,
    data,
    identity: resolveFrom(path, config.identity),
    coordinatorPublicKey: resolveFrom(path, config.coordinatorPublicKey),
    workDir: resolveFrom(path, config.workDir),
    ...(config.tls && {
      tls: {
        ca: resolveFrom(path, config.tls.ca),
        ...(config.tls.cert && { cert: resolveFrom(path, config.tls.cert) }),
        ...(config.tls.key && { key: resolveFrom(path, config.tls.key) }),
      },
    }),
  });
}
