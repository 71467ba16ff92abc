import { existsSync } from "node:fs";
import { join } from "node:path";
import { TrainerHost } from "../../client/src/training/trainer-host.js";
import { CENTRAL_SITE_ID, type CentralEvaluator } from "../../coordinator/src/central-evaluation.js";
import type { CentralEvaluationConfig } from "../../coordinator/src/config.js";
import { ErrorCode, errorMessage, FlError } from "../../shared/src/errors.js";
import { type DataConfig, listSites, resolveDataConfig } from "../../shared/src/ml/data/index.js";

/**
 * Checks `centralEvaluation` before the coordinator starts, so that a wrong path or site stops it
 * with the config's own words rather than failing every central evaluation later: the data
 * config's keys, that its folder exists, and which of its sites holds the set. Returns that site.
 */
export async function checkCentralEvaluation(central: CentralEvaluationConfig): Promise<string> {
  let data: ReturnType<typeof resolveDataConfig>;
  try {
    data = resolveDataConfig(central.data as DataConfig);
  } catch (error) {
    throw new FlError(ErrorCode.InvalidConfig, `centralEvaluation: ${errorMessage(error)}`);
  }
  if (data.kind !== "synthetic" && !existsSync(data.root))
    throw new FlError(
      ErrorCode.InvalidConfig,
      `centralEvaluation.data.root: ${data.root} does not exist (a relative root is read from the config file's folder); point it at the folder of the coordinator's own test set`,
    );
  let sites: string[];
  try {
    sites = await listSites(data);
  } catch (error) {
    throw new FlError(ErrorCode.InvalidConfig, `centralEvaluation.data: ${errorMessage(error)}`);
  }
  if (central.site !== undefined) {
    if (!sites.includes(central.site))
      throw new FlError(
        ErrorCode.InvalidConfig,
        `centralEvaluation.site: "${central.site}" is not a site of centralEvaluation.data; its sites are ${sites.join(", ") || "(none)"}`,
      );
    return central.site;
  }
  const [only, ...others] = sites;
  if (only === undefined)
    throw new FlError(
      ErrorCode.InvalidConfig,
      "centralEvaluation.data holds no usable image: check that the files its labels name are there and readable",
    );
  if (others.length > 0)
    throw new FlError(
      ErrorCode.InvalidConfig,
      `centralEvaluation.data defines ${sites.length} sites (${sites.join(", ")}): name the one that holds the coordinator's test set in centralEvaluation.site`,
    );
  return only;
}

/**
 * Scores models on the central set in a trainer child process, the one a hospital runs: the same
 * data loading, networks and evaluation code, so the "@central" record means what a site's does,
 * and TensorFlow never loads into the coordinator's own event loop. The set loads at once, while
 * the first round trains; a set that cannot load fails each central evaluation with the reason.
 */
export function trainerCentralEvaluator(
  central: CentralEvaluationConfig,
  options: { site: string; stateDir: string; log: (line: string) => void },
): CentralEvaluator & { close(): void } {
  const { site, log } = options;
  const host = new TrainerHost({ logPrefix: CENTRAL_SITE_ID });
  const ready = host.init({
    siteId: site,
    data: central.data,
    backend: central.backend,
    cacheDir: join(options.stateDir, "central", "cache"),
  });
  ready.then(
    (r) =>
      log(
        `central evaluation set ready (site "${site}", backend ${r.backend}): ${r.valCount} validation and ${r.testCount} test images; the ${central.split} split is scored`,
      ),
    (error: unknown) =>
      log(
        `central evaluation set could not be loaded: ${errorMessage(error)}; central evaluations will fail`,
      ),
  );
  return {
    async evaluate(task, weights) {
      await ready;
      return host.evaluate(task, weights);
    },
    close: () => host.close(),
  };
}
