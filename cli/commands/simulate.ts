import { type Command, InvalidArgumentError } from "commander";
import { virtualSiteIds, virtualSites } from "../../client/src/virtual/sites.js";
import { parseConfig, readConfigFile } from "../../shared/src/config/load.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import { listSites } from "../../shared/src/ml/data/index.js";
import { PRESET_FOR_SITES, type SimulationConfig, SimulationConfigSchema } from "../simulate/config.js";
import { runSimulation } from "../simulate/run-simulation.js";

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError("expected an integer");
  return n;
}

function num(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError("expected a number");
  return n;
}

interface SimulateFlags {
  config?: string;
  sites?: number;
  preset?: string;
  rounds?: number;
  epochs?: number;
  imageSize?: number;
  imagesPerSite?: number;
  learningRate?: number;
  backend?: string;
  seed?: number;
  data?: string;
  out?: string;
  nats?: string;
  insecure?: boolean;
  restartClients?: number;
  /** false with --no-central-eval (commander's default is true, which must not override a file). */
  centralEval?: boolean;
  dpEpsilon?: number;
  dpNoise?: number;
  dpClip?: number;
  dpDelta?: number;
  dpBudget?: number;
  secureAggregation?: boolean;
  virtualSites?: number;
  workers?: number;
  fraction?: number;
}

/**
 * The --dp-* flags as the plan's `privacy.dp`, over the config file's: --dp-epsilon is the ε to
 * reach by the plan's end (z chosen for it) and, unless --dp-budget says otherwise, the budget;
 * without --dp-clip the clipping norm adapts to the median update norm from 1, or is 1 under
 * secure aggregation, where each site adds its share of the noise (distributed DP).
 */
function dpFromFlags(
  flags: SimulateFlags,
  fromFile: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const given = [flags.dpEpsilon, flags.dpNoise, flags.dpClip, flags.dpDelta, flags.dpBudget].some(
    (v) => v !== undefined,
  );
  if (!given) return undefined;
  const privacy = (fromFile.privacy ?? {}) as Record<string, unknown>;
  const dp = { ...((privacy.dp ?? {}) as Record<string, unknown>) };
  if (flags.dpEpsilon !== undefined) {
    delete dp.noiseMultiplier;
    dp.targetEpsilon = flags.dpEpsilon;
    dp.budget = flags.dpBudget ?? flags.dpEpsilon;
  }
  if (flags.dpNoise !== undefined) {
    delete dp.targetEpsilon;
    dp.noiseMultiplier = flags.dpNoise;
  }
  // Under secure aggregation the sites add the noise (mode distributed), which needs a fixed C:
  // the coordinator cannot see the clip bits adaptive clipping learns from.
  const masked = flags.secureAggregation === true || Boolean(fromFile.secureAggregation);
  if (masked && dp.mode === undefined) dp.mode = "distributed";
  if (flags.dpClip !== undefined) {
    delete dp.adaptiveClip;
    dp.clipNorm = flags.dpClip;
  } else if (dp.clipNorm === undefined && dp.adaptiveClip === undefined) {
    if (dp.mode === "distributed") dp.clipNorm = 1;
    else dp.adaptiveClip = { initialNorm: 1 };
  }
  if (flags.dpDelta !== undefined) dp.delta = flags.dpDelta;
  if (flags.dpBudget !== undefined) dp.budget = flags.dpBudget;
  if (flags.dpEpsilon !== undefined && flags.dpNoise !== undefined)
    throw new FlError(
      ErrorCode.InvalidConfig,
      "--dp-epsilon and --dp-noise both set the noise: give one (--dp-epsilon picks the noise that reaches that ε)",
    );
  return { ...privacy, dp };
}

/** `fl simulate`'s exit status: 130 (as for Ctrl-C) when a signal stopped it before the end. */
const SIMULATE_EXIT = { completed: 0, failed: 1, interrupted: 130 } as const;

/**
 * Flags whose setting the config replaces: the default phase takes rounds, epochs and learning
 * rate from them, a config with `phases` does not, so such a flag would be silently ignored.
 */
const REPLACED_BY_PHASES = [
  ["rounds", "--rounds"],
  ["epochs", "--epochs"],
  ["learningRate", "--learning-rate"],
] as const;

function refuseOverriddenFlags(flags: SimulateFlags, fromFile: Record<string, unknown>): void {
  if (!("phases" in fromFile)) return;
  const given = REPLACED_BY_PHASES.filter(([key]) => flags[key] !== undefined).map(([, flag]) => flag);
  if (given.length === 0) return;
  throw new FlError(
    ErrorCode.InvalidConfig,
    `${given.join(", ")} ${given.length === 1 ? "has" : "have"} no effect: ${flags.config} has phases, which set rounds and training per phase; change them in its phases instead`,
  );
}

export function registerSimulateCommand(program: Command): void {
  program
    .command("simulate")
    .description(
      "run a whole federation on this machine: a coordinator and one process per hospital over real gRPC, on synthetic chest X-rays (or a real dataset)",
    )
    .option(
      "-c, --config <file>",
      "simulation config (YAML or JSON); flags override it, except those its phases replace (refused)",
    )
    .option("-n, --sites <n>", "number of hospitals (3, 4, 5 or 1 with synthetic data)", int)
    .option("--preset <name>", "synthetic hospitals preset: 3-hospitals, 5-hospitals, 4-iid, 1-central")
    .option("-r, --rounds <n>", "federated rounds", int)
    .option("--epochs <n>", "local epochs per round", int)
    .option("--image-size <px>", "image side in pixels", int)
    .option("--images-per-site <n>", "synthetic images per hospital", int)
    .option("--learning-rate <lr>", "local Adam learning rate", num)
    .option("--backend <name>", "TensorFlow.js backend: auto, tensorflow-gpu, tensorflow, wasm, cpu")
    .option("--seed <n>", "seed of data, sampling and initial model", int)
    .option(
      "--data <file>",
      "data config file (docs/data.md) to use a real dataset instead of synthetic hospitals",
    )
    .option("--nats <url>", "also publish events to this NATS server")
    .option(
      "--insecure",
      "plaintext gRPC instead of mutual TLS with certificates made for the run (to look at the traffic)",
    )
    .option(
      "--restart-clients <n>",
      "restart a hospital process that crashes or is killed up to n times (default 3; 0: the first crash fails the run)",
      int,
    )
    .option(
      "--no-central-eval",
      "hold no synthetic reference hospital at the coordinator (by default every evaluated model is also scored on one, as site @central)",
    )
    .option(
      "--dp-epsilon <ε>",
      "differential privacy: the (site-level) ε to reach after all rounds, also the budget; the noise is chosen for it",
      num,
    )
    .option(
      "--dp-noise <z>",
      "differential privacy with this noise multiplier (instead of --dp-epsilon)",
      num,
    )
    .option(
      "--dp-clip <C>",
      "clip each hospital's update to this L2 norm (default: adaptive, from 1; 1 with --secure-aggregation)",
      num,
    )
    .option("--dp-delta <δ>", "δ of the (ε, δ) guarantee (default 1e-5)", num)
    .option("--dp-budget <ε>", "end the federation before a round that would take ε past this", num)
    .option(
      "--secure-aggregation",
      "secure aggregation: the coordinator sees only the sum of each round's updates (every hospital, at least 3, in each round)",
    )
    .option(
      "--virtual-sites <n>",
      "simulate n hospitals in one process (each its own keys, certificate, session and data, cycling the preset's hospitals with a seed each) on a pool of trainer workers; docs/simulation.md",
      int,
    )
    .option("--workers <k>", "trainer workers serving the virtual hospitals (default: one per core)", int)
    .option(
      "--fraction <f>",
      "share of the hospitals each round trains (default 1; with --virtual-sites a cohort of about 20)",
      num,
    )
    .option("-o, --out <dir>", "run folder (default runs/<time>); an existing one is resumed")
    .action(async (flags: SimulateFlags) => {
      const fromFile = flags.config ? (readConfigFile(flags.config) as Record<string, unknown>) : {};
      const overrides: Record<string, unknown> = {
        sites: flags.sites,
        preset: flags.preset,
        rounds: flags.rounds,
        epochs: flags.epochs,
        imageSize: flags.imageSize,
        imagesPerSite: flags.imagesPerSite,
        learningRate: flags.learningRate,
        backend: flags.backend,
        seed: flags.seed,
        natsUrl: flags.nats,
        insecure: flags.insecure,
        restartClients: flags.restartClients,
        ...(flags.centralEval === false && { centralEval: false }),
        privacy: dpFromFlags(flags, fromFile),
        secureAggregation: flags.secureAggregation,
        virtualSites: flags.virtualSites,
        workers: flags.workers,
        fraction: flags.fraction,
        ...(flags.data && { data: readConfigFile(flags.data) }),
      };
      refuseOverriddenFlags(flags, fromFile);
      const merged = {
        ...fromFile,
        ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
      };
      const parsed = parseConfig(SimulationConfigSchema, merged, flags.config ?? "command-line options");
      let preset = parsed.preset;
      if (parsed.sites !== undefined && flags.preset === undefined && !("preset" in fromFile)) {
        const chosen = PRESET_FOR_SITES[parsed.sites];
        if (!chosen) {
          throw new FlError(
            ErrorCode.InvalidConfig,
            `no synthetic preset has ${parsed.sites} hospitals; use --sites ${Object.keys(PRESET_FOR_SITES).join(", ")} or a --data config with a partition`,
          );
        }
        preset = chosen;
      }
      const data = parsed.data
        ? { ...parsed.data, imageSize: parsed.imageSize }
        : {
            kind: "synthetic",
            preset,
            imagesPerSite: parsed.imagesPerSite,
            imageSize: parsed.imageSize,
            seed: parsed.seed,
          };
      const config: SimulationConfig = { ...parsed, preset, data };
      const sites = await listSites(data as Parameters<typeof listSites>[0]);
      if (parsed.sites !== undefined && sites.length !== parsed.sites) {
        throw new FlError(
          ErrorCode.InvalidConfig,
          `the data defines ${sites.length} sites (${sites.join(", ")}) but --sites is ${parsed.sites}`,
        );
      }
      if (parsed.workers !== undefined && parsed.virtualSites === undefined)
        throw new FlError(
          ErrorCode.InvalidConfig,
          "--workers sizes the pool that serves virtual hospitals: add --virtual-sites <n>, or drop --workers (each hospital process has its own trainer)",
        );
      const virtual =
        parsed.virtualSites === undefined ? undefined : virtualSites(parsed.virtualSites, data, sites);
      const runDir = flags.out ?? `runs/${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}`;
      const result = await runSimulation(config, virtual ? virtualSiteIds(virtual.length) : sites, {
        runDir,
        interactive: Boolean(process.stdout.isTTY) && !process.env.CI,
        ...(virtual && { virtualSites: virtual }),
      });
      process.exitCode = SIMULATE_EXIT[result.status];
    });
}
