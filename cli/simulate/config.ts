import { z } from "zod";

/** Options of `fl simulate`, from flags or a config file (flags win). */
export const SimulationConfigSchema = z
  .object({
    federationId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .default("sim"),
    /** Synthetic hospitals preset (see `fl data synth --help`); ignored when `data` is given. */
    preset: z.string().default("3-hospitals"),
    /** Number of hospitals; picks the preset of that size when no preset is named. */
    sites: z.number().int().min(1).optional(),
    imagesPerSite: z.number().int().min(8).default(400),
    imageSize: z.number().int().min(16).max(512).default(64),
    widths: z.array(z.number().int().min(1)).min(1).default([16, 32, 64]),
    rounds: z.number().int().min(1).default(10),
    epochs: z.number().int().min(1).default(2),
    batchSize: z.number().int().min(1).default(16),
    learningRate: z.number().positive().default(2e-3),
    evaluateEvery: z.number().int().min(0).default(2),
    minSites: z.number().int().min(1).optional(),
    roundTimeoutSec: z.number().positive().default(900),
    seed: z.number().int().min(0).default(7),
    backend: z.string().default("auto"),
    natsUrl: z.string().optional(),
    /** Plaintext gRPC instead of the per-run mutual TLS (to look at the traffic, say). */
    insecure: z.boolean().default(false),
    /**
     * How often one hospital's process is restarted after it crashes or is killed before the
     * federation ends (it joins again); past that the simulation fails. 0: the first crash fails it.
     */
    restartClients: z.number().int().min(0).default(3),
    /**
     * Hold a synthetic reference hospital at the coordinator and score every evaluated model on
     * it too (site "@central"); synthetic data only. `--no-central-eval` turns it off.
     */
    centralEval: z.boolean().default(true),
    /**
     * Simulate this many hospitals in one process (docs/simulation.md) instead of one process per
     * hospital: each keeps its own keys, certificate, session and data, drawn from the preset's
     * hospitals in turn; their training runs on a pool of `workers` trainer processes.
     */
    virtualSites: z.number().int().min(1).max(10_000).optional(),
    /** Trainer workers serving the virtual hospitals (default: one per core). */
    workers: z.number().int().min(1).max(256).optional(),
    /**
     * Share of the connected hospitals each round trains (the plan's `fraction`); default 1, and
     * with virtual sites a cohort of about 20.
     */
    fraction: z.number().gt(0).max(1).optional(),
    /** A data config (docs/data.md) replacing the synthetic hospitals, e.g. a SIIM folder. */
    data: z.record(z.string(), z.unknown()).optional(),
    /** The federation's model (docs/configuration.md); default: the small CNN with `widths`. */
    model: z.record(z.string(), z.unknown()).optional(),
    /** The plan's phases (docs/configuration.md); default: one classification phase of `rounds`. */
    phases: z.array(z.record(z.string(), z.unknown())).min(1).optional(),
    /** The aggregation strategy, e.g. { name: fedadam }; default FedAvg. */
    strategy: z.record(z.string(), z.unknown()).optional(),
    /** The plan's `privacy` block, e.g. { dp: { clipNorm: 1, targetEpsilon: 8 } } (docs/configuration.md). */
    privacy: z.record(z.string(), z.unknown()).optional(),
    /**
     * The plan's `secureAggregation` (coordinator/src/secagg-config.ts): true for its defaults, or
     * its options. Every round then needs all hospitals (at least 3) unless minSites says otherwise.
     */
    secureAggregation: z.union([z.boolean(), z.record(z.string(), z.unknown())]).optional(),
  })
  .strict();
export type SimulationConfigInput = z.input<typeof SimulationConfigSchema>;
export type SimulationConfig = z.output<typeof SimulationConfigSchema> & { data: Record<string, unknown> };

/** Preset per number of hospitals, for `--sites N`. */
export const PRESET_FOR_SITES: Readonly<Record<number, string>> = {
  1: "1-central",
  3: "3-hospitals",
  4: "4-iid",
  5: "5-hospitals",
};
