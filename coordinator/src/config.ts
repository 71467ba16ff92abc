import { z } from "zod";
import { parseConfig, readConfigFile, resolveFrom } from "../../shared/src/config/load.js";
import { checkTransportSecurity, withInsecureFlag } from "../../shared/src/config/transport-security.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import { ModelSpecSchema } from "../../shared/src/fl/model-spec.js";
import { LONG_POLL_MS, MIN_HEARTBEAT_TIMEOUT_MS } from "../../shared/src/fl/protocol-constants.js";
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from "./federation/upload-intake.js";
import { PlanSchema, planProblems } from "./plan.js";
import { DEFAULT_MAX_CONCURRENT_UPLOADS } from "./transport/grpc/upload-slots.js";

/** What plaintext gRPC gives away: why it is refused, and the warning when it is asked for. */
export const PLAINTEXT_EXPOSES =
  "everything sites send besides their sealed updates (the class counts of their data at join, " +
  "evaluation confusion matrices, training metrics) and their session tokens cross the network " +
  "readable, and anyone on the path can pose as the coordinator";

const PLAINTEXT_REFUSED =
  `no tls configured, and the coordinator does not serve plaintext gRPC: without TLS ${PLAINTEXT_EXPOSES}. ` +
  "Configure tls: {cert, key, ca} (deploy/tls/make-certs.sh issues them; see docs/deploy.md), or, " +
  "for a lab on a trusted network only, set insecure: true or pass --insecure";

/** What one site's upload streams may hold (docs/security.md, "Limits on uploads"). */
const UPLOAD_LIMIT_DEFAULTS = {
  uploadIdleTimeoutSec: DEFAULT_UPLOAD_LIMITS.idleTimeoutMs / 1000,
  uploadDeadlineSec: DEFAULT_UPLOAD_LIMITS.deadlineMs / 1000,
  uploadBurst: DEFAULT_UPLOAD_LIMITS.burst,
  uploadAttemptsPerMinute: DEFAULT_UPLOAD_LIMITS.attemptsPerMinute,
  maxConcurrentUploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
};
const UPLOAD_LIMIT_KEYS = {
  /** Longest wait for an upload's next chunk. */
  uploadIdleTimeoutSec: z.number().positive().default(UPLOAD_LIMIT_DEFAULTS.uploadIdleTimeoutSec),
  /** Longest one upload may take, header to last chunk. */
  uploadDeadlineSec: z.number().positive().default(UPLOAD_LIMIT_DEFAULTS.uploadDeadlineSec),
  /** Upload attempts a site may make back to back, and how many per minute refill that. */
  uploadBurst: z.number().int().positive().default(UPLOAD_LIMIT_DEFAULTS.uploadBurst),
  uploadAttemptsPerMinute: z.number().positive().default(UPLOAD_LIMIT_DEFAULTS.uploadAttemptsPerMinute),
  /**
   * Uploads the coordinator reads at once, across sites; the others wait, unread. Each holds its
   * whole plaintext until verified, so this times the model's bytes bounds what uploads take.
   */
  maxConcurrentUploads: z.number().int().positive().default(UPLOAD_LIMIT_DEFAULTS.maxConcurrentUploads),
};

/** The upload limits of a loaded config, as the coordinator takes them. */
export function uploadLimitsOf(limits: CoordinatorConfig["limits"]): UploadLimits {
  return {
    idleTimeoutMs: limits.uploadIdleTimeoutSec * 1000,
    deadlineMs: limits.uploadDeadlineSec * 1000,
    burst: limits.uploadBurst,
    attemptsPerMinute: limits.uploadAttemptsPerMinute,
  };
}

/** `centralEvaluation` of a coordinator config (docs/configuration.md). */
export const CentralEvaluationSchema = z
  .object({
    /**
     * The images, as a hospital's `data` section names them (docs/data.md): a synthetic preset,
     * a SIIM or a folder dataset. Validated by the data module when the coordinator starts.
     */
    data: z.record(z.string(), z.unknown()),
    /** The site of `data` that holds the set, when it defines several (a preset's hospitals, a site column). */
    site: z.string().min(1).optional(),
    /** Which of the set's splits is scored. */
    split: z.enum(["val", "test"]).default("test"),
    /** Score every this many rounds and at the plan's end; default: whenever the sites evaluate. */
    every: z.number().int().min(1).optional(),
    /** TensorFlow.js backend of its trainer process: auto, tensorflow-gpu, tensorflow, wasm, cpu. */
    backend: z.string().default("auto"),
  })
  .strict();
export type CentralEvaluationConfig = z.infer<typeof CentralEvaluationSchema>;

export const CoordinatorConfigSchema = z
  .object({
    /** Names the federation in keys, events (a NATS subject token) and the state database. */
    federationId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, "use letters, digits, '-' and '_' (it is a NATS subject token)"),
    /** host:port to listen on; port 0 picks a free port (written to <stateDir>/coordinator.addr). */
    listen: z.string().default("127.0.0.1:50051"),
    /** SQLite database, checkpoints and reports. Reusing it resumes the federation. */
    stateDir: z.string(),
    /** The coordinator's identity file (from `fl keys generate --id coordinator`). */
    identity: z.string(),
    /** Folder of enrolled hospitals' `*.public.json` files: the allowlist. */
    sitesDir: z.string(),
    tls: z
      .object({
        cert: z.string(),
        key: z.string(),
        /** The CA that issued the sites' client certificates. */
        ca: z.string().optional(),
        requireClientCert: z.boolean().default(true),
        /**
         * A CRL (PEM) signed by `ca`: client certificates it lists are refused, checked on every
         * call and re-read when the file changes.
         */
        crl: z.string().optional(),
      })
      .strict()
      .superRefine((tls, ctx) => {
        if (tls.requireClientCert && tls.ca === undefined)
          ctx.addIssue({
            code: "custom",
            path: ["ca"],
            message:
              "requireClientCert is true (the default) but no ca is given, so no client certificate could " +
              "be verified: set ca to the CA that issued the sites' certificates (deploy/tls/make-certs.sh " +
              "writes ca.crt), or set requireClientCert: false to accept sites without certificates",
          });
        if (tls.crl !== undefined && tls.ca === undefined)
          ctx.addIssue({
            code: "custom",
            path: ["crl"],
            message: "a crl needs the ca that signed it: set ca too",
          });
      })
      .optional(),
    // Operator surface and logging (docs/configuration.md, "admin and log").
    /** The operator endpoint (`fl status`, Prometheus `/metrics`): off unless configured. */
    admin: z
      .object({
        /** host:port of its HTTP server; port 0 picks a free port (written to <stateDir>/admin.addr). */
        listen: z.string().default("127.0.0.1:9464"),
        /** The bearer token every request must carry; created (mode 600) when the file is missing. */
        tokenFile: z.string(),
      })
      .strict()
      .optional(),
    log: z
      .object({
        level: z.enum(["debug", "info", "warn", "error"]).default("info"),
        /** json: one JSON object a line; text: timestamped lines; auto: text on a terminal, else json. */
        format: z.enum(["auto", "json", "text"]).default("auto"),
      })
      .strict()
      .default({ level: "info", format: "auto" }),
    /** Serve plaintext gRPC without TLS: for a lab on a trusted network only (also `--insecure`). */
    insecure: z.boolean().default(false),
    nats: z
      .object({
        url: z.string(),
        jetstream: z.boolean().default(false),
        subjectPrefix: z.string().default("fl"),
        /** Credentials nats-server checks; its permissions then decide who may forge or purge events. */
        auth: z
          .union([
            z.object({ user: z.string().min(1), passwordFile: z.string() }).strict(),
            z.object({ tokenFile: z.string() }).strict(),
            z.object({ credsFile: z.string() }).strict(),
            z.object({ nkeySeedFile: z.string() }).strict(),
          ])
          .optional(),
        /** TLS to nats-server (a `tls://` url also turns it on); cert and key when it verifies clients. */
        tls: z
          .object({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional() })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /**
     * Checkpoint files kept besides the initial model, phase boundaries and versions still to be
     * evaluated (always kept): the newest k, or "all". Their records and hashes stay in the database.
     */
    keepCheckpoints: z.union([z.literal("all"), z.number().int().min(1)]).default(10),
    model: ModelSpecSchema,
    plan: PlanSchema,
    /**
     * A test set the coordinator holds itself (a reference site), scored next to the federated
     * evaluation in a trainer process of its own. Checked by `fl coordinator` at start.
     */
    centralEvaluation: CentralEvaluationSchema.optional(),
    limits: z
      .object({
        maxUpdateBytes: z
          .number()
          .int()
          .positive()
          .default(512 << 20),
        heartbeatIntervalMs: z.number().int().min(100).default(2000),
        /** A client silent for this long is considered gone and its task fails. */
        heartbeatTimeoutSec: z
          .number()
          .default(30)
          .superRefine((value, ctx) => {
            if (value * 1000 >= MIN_HEARTBEAT_TIMEOUT_MS) return;
            ctx.addIssue({
              code: "custom",
              message:
                `${value} is below the minimum of ${MIN_HEARTBEAT_TIMEOUT_MS / 1000} s: an idle site's only ` +
                `sign of life is its next long-poll, which waits up to ${LONG_POLL_MS / 1000} s, so a ` +
                "shorter timeout drops healthy sites that are waiting for a task",
            });
          }),
        ...UPLOAD_LIMIT_KEYS,
      })
      .strict()
      .default({
        maxUpdateBytes: 512 << 20,
        heartbeatIntervalMs: 2000,
        heartbeatTimeoutSec: 30,
        ...UPLOAD_LIMIT_DEFAULTS,
      }),
  })
  .strict()
  .superRefine((config, ctx) => checkTransportSecurity(config, ctx, PLAINTEXT_REFUSED));
export type CoordinatorConfig = z.infer<typeof CoordinatorConfigSchema>;

/**
 * Reads and validates a coordinator config file; relative paths are resolved from the file.
 * `insecure` is the `--insecure` flag: it counts as `insecure: true` in the file.
 */
export function loadCoordinatorConfig(path: string, options: { insecure?: boolean } = {}): CoordinatorConfig {
  const raw = readConfigFile(path);
  const withFlag = withInsecureFlag(raw, options.insecure);
  const config = parseConfig(CoordinatorConfigSchema, withFlag, path);
  const problems = planProblems(config.plan, config.model);
  if (problems.length > 0) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `invalid config in ${path}:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
  return Object.freeze({
    ...config,
    stateDir: resolveFrom(path, config.stateDir),
    identity: resolveFrom(path, config.identity),
    sitesDir: resolveFrom(path, config.sitesDir),
    ...(config.tls && {
      tls: {
        ...config.tls,
        cert: resolveFrom(path, config.tls.cert),
        key: resolveFrom(path, config.tls.key),
        ...(config.tls.ca && { ca: resolveFrom(path, config.tls.ca) }),
        ...(config.tls.crl && { crl: resolveFrom(path, config.tls.crl) }),
      },
    }),
    ...(config.nats && { nats: resolveNatsFiles(path, config.nats) }),
    ...(config.admin && { admin: { ...config.admin, tokenFile: resolveFrom(path, config.admin.tokenFile) } }),
    ...(config.centralEvaluation && {
      centralEvaluation: {
        ...config.centralEvaluation,
        data: resolveDataRoot(path, config.centralEvaluation.data),
      },
    }),
  });
}

/** A dataset folder is named relative to the config file, as in a hospital's config. */
function resolveDataRoot(configPath: string, data: Record<string, unknown>): Record<string, unknown> {
  return typeof data.root === "string" ? { ...data, root: resolveFrom(configPath, data.root) } : data;
}

type NatsConfig = NonNullable<CoordinatorConfig["nats"]>;

/** The NATS credential and certificate files, resolved from the config file like every path. */
function resolveNatsFiles(configPath: string, nats: NatsConfig): NatsConfig {
  const file = (p: string | undefined) => (p === undefined ? undefined : resolveFrom(configPath, p));
  const auth =
    nats.auth &&
    Object.fromEntries(
      Object.entries(nats.auth).map(([key, value]) => [key, key.endsWith("File") ? file(value) : value]),
    );
  const tls =
    nats.tls && Object.fromEntries(Object.entries(nats.tls).map(([key, value]) => [key, file(value)]));
  return { ...nats, ...(auth && { auth: auth as NatsConfig["auth"] }), ...(tls && { tls }) };
}
