import { z } from "zod";
import { parseConfig, readConfigFile, resolveFrom } from "../../shared/src/config/load.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import { ModelSpecSchema } from "../../shared/src/fl/model-spec.js";
import { LONG_POLL_MS, MIN_HEARTBEAT_TIMEOUT_MS } from "../../shared/src/fl/protocol-constants.js";
import { PlanSchema, planProblems } from "./plan.js";

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
        ca: z.string().optional(),
        requireClientCert: z.boolean().default(true),
      })
      .strict()
      .optional(),
    nats: z
      .object({
        url: z.string(),
        jetstream: z.boolean().default(false),
        subjectPrefix: z.string().default("fl"),
      })
      .strict()
      .optional(),
    model: ModelSpecSchema,
    plan: PlanSchema,
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
      })
      .strict()
      .default({ maxUpdateBytes: 512 << 20, heartbeatIntervalMs: 2000, heartbeatTimeoutSec: 30 }),
  })
  .strict();
export type CoordinatorConfig = z.infer<typeof CoordinatorConfigSchema>;

/** Reads and validates a coordinator config file; relative paths are resolved from the file. */
export function loadCoordinatorConfig(path: string): CoordinatorConfig {
  const config = parseConfig(CoordinatorConfigSchema, readConfigFile(path), path);
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
      },
    }),
  });
}
