import { z } from "zod";
import { parseConfig, readConfigFile, resolveFrom } from "../../shared/src/config/load.js";
import { checkTransportSecurity, withInsecureFlag } from "../../shared/src/config/transport-security.js";
import { MAX_WASM_THREADS } from "../../shared/src/ml/tf/threads/thread-count.js";
import { PrivacyPolicySchema } from "./privacy-policy.js";

const THREADS_TAKE = `threads must be auto or a whole number from 1 to ${MAX_WASM_THREADS}`;
const TrainingThreadsSchema = z.union(
  [
    z.literal("auto"),
    z
      .number()
      .int({ error: THREADS_TAKE })
      .min(1, { error: THREADS_TAKE })
      .max(MAX_WASM_THREADS, { error: THREADS_TAKE }),
  ],
  { error: THREADS_TAKE },
);

/** What dialling the coordinator in plaintext gives away: why it is refused, and the warning. */
export const PLAINTEXT_EXPOSES =
  "this site's class counts, evaluation results, training metrics and session token cross the " +
  "network readable, and anyone on the path can pose as the coordinator";

const PLAINTEXT_REFUSED =
  `no tls configured, and the client does not dial the coordinator in plaintext: without TLS ${PLAINTEXT_EXPOSES}. ` +
  "Configure tls: {ca, cert, key} (the CA that issued the coordinator's certificate, and this site's " +
  "client certificate for mutual TLS; see docs/deploy.md), or, for a lab on a trusted network only, " +
  "set insecure: true or pass --insecure";

export const ClientConfigSchema = z
  .object({
    /** Must match the id inside the identity file and the coordinator's enrolment. */
    siteId: z.string().min(1),
    /**
     * The federation this hospital agreed to join: the client refuses a coordinator that names
     * another one, before it says anything about itself.
     */
    federationId: z.string().min(1),
    /** host:port of the coordinator; the client always dials out. */
    coordinator: z.string().min(3),
    /** This hospital's identity file (secret; from `fl keys generate`). */
    identity: z.string(),
    /** The coordinator's public key file: updates are encrypted to it and joins are checked against it. */
    coordinatorPublicKey: z.string(),
    tls: z
      .object({ ca: z.string(), cert: z.string().optional(), key: z.string().optional() })
      .strict()
      .superRefine((tls, ctx) => {
        if ((tls.cert === undefined) !== (tls.key === undefined))
          ctx.addIssue({
            code: "custom",
            path: [tls.cert === undefined ? "cert" : "key"],
            message:
              "a client certificate needs its key and a key its certificate: give both cert and key, or neither",
          });
      })
      .optional(),
    /** Dial the coordinator in plaintext: for a lab on a trusted network only (also `--insecure`). */
    insecure: z.boolean().default(false),
    /** Where the site's images come from (see docs/data.md); validated by the data module. */
    data: z.record(z.string(), z.unknown()),
    /** Preprocessed-image cache and local state. */
    workDir: z.string(),
    /** auto | tensorflow-gpu | tensorflow | wasm | cpu */
    backend: z.string().default("auto"),
    /**
     * How the trainer uses this machine's CPU. `threads` (wasm backend): `auto` runs XNNPACK on
     * every core (up to 8, the threaded build's pool), a number on that many, 1 (the default) on
     * the single-threaded build: 2 threads measured 1.02x one on an idle 2-core machine and slower
     * on a loaded one (docs/backends.md), so more threads are opt-in.
     */
    training: z
      .object({ threads: TrainingThreadsSchema.default(1) })
      .strict()
      .prefault({}),
    /** How long to keep retrying while the coordinator is unreachable before giving up. */
    reconnectTimeoutSec: z.number().positive().default(300),
    /** As the coordinator's: json one object a line, text timestamped lines, auto text on a terminal. */
    log: z
      .object({
        level: z.enum(["debug", "info", "warn", "error"]).default("info"),
        format: z.enum(["auto", "json", "text"]).default("auto"),
      })
      .strict()
      .default({ level: "info", format: "auto" }),
    /**
     * This hospital's own privacy policy (privacy-policy.ts, docs/security.md "The site's
     * privacy policy"): tasks that break it are refused before any data is read.
     */
    privacy: PrivacyPolicySchema.prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => checkTransportSecurity(config, ctx, PLAINTEXT_REFUSED));
export type ClientConfig = z.infer<typeof ClientConfigSchema>;

/** Reads and validates a client config; `insecure` is the `--insecure` flag (as `insecure: true`). */
export function loadClientConfig(path: string, options: { insecure?: boolean } = {}): ClientConfig {
  const raw = readConfigFile(path);
  const withFlag = withInsecureFlag(raw, options.insecure);
  const config = parseConfig(ClientConfigSchema, withFlag, path);
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
