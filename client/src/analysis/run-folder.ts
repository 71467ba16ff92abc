import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseConfig, readConfigFile } from "../../../shared/src/config/load.js";
import { ErrorCode, errorMessage, FlError } from "../../../shared/src/errors.js";
import { type ModelSpec, ModelSpecSchema } from "../../../shared/src/fl/model-spec.js";
import type { DataConfig } from "../../../shared/src/ml/data/config-schema.js";
import { deserializeWeights, sha256Hex } from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { loadClientConfig } from "../config.js";

/** What `fl analyse` reads from a run folder of `fl simulate`. */
export interface RunInputs {
  readonly runDir: string;
  readonly spec: ModelSpec;
  readonly weights: ModelWeights;
  readonly model: { readonly version: number; readonly sha256: string; readonly architecture: string };
  /** Where the model came from (model/final.flw, or the newest checkpoint of an unfinished run). */
  readonly modelPath: string;
  /** Each hospital's data config, from its client config (clients/<site>.yaml). */
  readonly sites: ReadonlyArray<{ readonly siteId: string; readonly data: DataConfig }>;
}

const NOT_A_RUN =
  "give the folder `fl simulate` wrote (runs/<time>, or its --out), which holds coordinator.yaml and clients/";

/** Reads and checks the run folder; every problem names the path and what to do. */
export function readRunInputs(runDir: string): RunInputs {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) {
    throw new FlError(ErrorCode.NotFound, `${runDir} is not a folder: ${NOT_A_RUN}`);
  }
  const coordinatorPath = join(runDir, "coordinator.yaml");
  const clientsDir = join(runDir, "clients");
  if (!existsSync(coordinatorPath) || !existsSync(clientsDir)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${runDir} is not a run folder (no ${existsSync(coordinatorPath) ? "clients/" : "coordinator.yaml"}): ${NOT_A_RUN}`,
    );
  }
  const coordinator = readConfigFile(coordinatorPath) as { model?: unknown };
  const spec = parseConfig(ModelSpecSchema, coordinator?.model, `${coordinatorPath} (model)`);
  const { path: modelPath, version } = findModel(runDir);
  let bytes: Uint8Array;
  let weights: ModelWeights;
  try {
    bytes = new Uint8Array(readFileSync(modelPath));
    weights = deserializeWeights(bytes);
  } catch (error) {
    throw new FlError(
      ErrorCode.DataError,
      `cannot read the model ${modelPath}: ${errorMessage(error)}. Finish or resume the run (fl simulate --out ${runDir})`,
      { cause: error },
    );
  }
  const sites = readdirSync(clientsDir)
    .filter((name) => name.endsWith(".yaml") || name.endsWith(".yml"))
    .sort()
    .map((name) => {
      const config = loadClientConfig(join(clientsDir, name));
      return { siteId: config.siteId, data: config.data as DataConfig };
    });
  if (sites.length === 0) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${clientsDir} holds no client configs (<site>.yaml): ${NOT_A_RUN}`,
    );
  }
  return {
    runDir,
    spec,
    weights,
    model: { version, sha256: sha256Hex(bytes), architecture: spec.architecture },
    modelPath,
    sites,
  };
}

/** The final model, else the newest checkpoint (a run stopped early analyses its last round). */
function findModel(runDir: string): { path: string; version: number } {
  const final = join(runDir, "model", "final.flw");
  if (existsSync(final)) {
    let version = -1;
    try {
      version = (JSON.parse(readFileSync(join(runDir, "model", "final.json"), "utf8")) as { version: number })
        .version;
    } catch {
      // final.json is written next to final.flw; without it the version is unknown, not fatal.
    }
    return { path: final, version };
  }
  const checkpoints = join(runDir, "checkpoints");
  const newest = existsSync(checkpoints)
    ? readdirSync(checkpoints)
        .map((name) => /^model-v(\d+)\.flw$/.exec(name))
        .filter((match): match is RegExpExecArray => match !== null)
        .map((match) => ({ path: join(checkpoints, match[0]), version: Number(match[1]) }))
        .sort((a, b) => b.version - a.version)[0]
    : undefined;
  if (!newest) {
    throw new FlError(
      ErrorCode.NotFound,
      `no model in ${runDir}: neither model/final.flw nor checkpoints/model-v*.flw exists. ` +
        `Let the run finish (or resume it: fl simulate --out ${runDir}) and analyse it then`,
    );
  }
  return newest;
}
