/**
 * A trainer worker of the virtual hospitals: a child process that owns TensorFlow.js and runs
 * the tasks of whichever site the pool sends it, on that site's images. The few sites it served
 * last stay loaded (their images and trainers); one pushed out is read back from the image cache
 * when it comes back. Of the trainers' own state only MoCo's key network and queue outlive a
 * round: they are checkpointed per site in the run folder (site-state.ts), so a pushed-out site,
 * or one that trains on another worker, continues them exactly. The checkpoints stay with the
 * run folder, as a hospital's would on its disk, so a resumed run continues them too.
 */

import { dirname, join } from "node:path";
import { errorMessage, FlError } from "../../../shared/src/errors.js";
import { DataConfigSchema, loadSiteSplits } from "../../../shared/src/ml/data/index.js";
import {
  initBackend,
  type LoadedBackend,
  parseBackendPreference,
} from "../../../shared/src/ml/tf/backend.js";
import { evaluateTask } from "../training/evaluate.js";
import { NetworkCache } from "../training/network-cache.js";
import { createTaskTrainer, type TrainerSite } from "../training/tasks/index.js";
import type { SiteTrainer } from "../training/trainer.js";
import { RecentlyUsed } from "./lru.js";
import { cachedSiteSplits } from "./site-cache.js";
import { SiteStateFiles } from "./site-state.js";
import { LOADED_SITES, type SiteRef, type WorkerRequest, type WorkerResponse } from "./worker-protocol.js";

let backend: LoadedBackend | undefined;
let cacheDir = "";
let stateFiles: SiteStateFiles | undefined;
// One set of networks for every site: each task writes its own weights in first.
const networks = new NetworkCache();

interface LoadedSite {
  readonly trainer: SiteTrainer;
  /** What the site's trainers keep their state under. */
  readonly site: TrainerSite;
}
const loaded = new RecentlyUsed<string, Promise<LoadedSite>>(LOADED_SITES);

function send(message: WorkerResponse): void {
  process.send?.(message);
}

function states(): SiteStateFiles {
  if (!stateFiles) throw new Error("worker used before init");
  return stateFiles;
}

async function loadSite(site: SiteRef): Promise<LoadedSite> {
  if (!backend) throw new Error("worker used before init");
  const log = (line: string) => process.stderr.write(`[data ${site.siteId}] ${line}\n`);
  const data = await cachedSiteSplits(join(cacheDir, "sites"), site, () =>
    loadSiteSplits(DataConfigSchema.parse(site.data), site.baseSite, { cacheDir, log }),
  );
  const trainerSite = { backend, data, networks };
  return {
    site: trainerSite,
    trainer: {
      train: createTaskTrainer(trainerSite),
      evaluate: (task, weights) => evaluateTask(trainerSite, task, weights, { siteId: site.siteId }),
    },
  };
}

function trainerOf(site: SiteRef): Promise<LoadedSite> {
  const kept = loaded.get(site.siteId);
  if (kept) return kept;
  const loading = loadSite(site);
  // The pool sends one task at a time, so nothing runs on a site pushed out here: its state is
  // already on disk, and its networks can go.
  for (const [siteId, evicted] of loaded.set(site.siteId, loading))
    evicted.then(
      (gone) => states().release(siteId, gone.site),
      () => {},
    );
  // A site that failed to load is tried afresh next time, not answered from a rejected promise.
  loading.catch(() => loaded.delete(site.siteId));
  return loading;
}

/** Logs how long a site took to become ready (rendered, read from disk or kept loaded). */
async function timed(request: { type: string; site: SiteRef }, load: () => Promise<LoadedSite>) {
  const start = performance.now();
  const kept = loaded.has(request.site.siteId);
  const trainer = await load();
  if (!kept)
    process.stderr.write(
      `[${request.site.siteId}] ${request.type}: site loaded in ${(performance.now() - start).toFixed(0)} ms\n`,
    );
  return trainer;
}

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case "init": {
      cacheDir = request.cacheDir;
      stateFiles = new SiteStateFiles(join(dirname(cacheDir), "site-state"));
      backend = await initBackend({
        prefer: parseBackendPreference(request.backend),
        log: (line) => process.stderr.write(`[worker] ${line}\n`),
      });
      send({ type: "ready", backend: backend.name, backendDetail: backend.detail });
      return;
    }
    case "train": {
      const { trainer, site } = await timed(request, () => trainerOf(request.site));
      // Another worker may have trained this site since it was loaded here.
      states().refresh(request.site.siteId, site);
      const outcome = await trainer.train(
        request.task,
        { manifest: request.manifest, values: request.values },
        (fraction, status) => send({ type: "progress", id: request.id, fraction, status }),
      );
      states().save(request.site.siteId, site, request.task.task);
      send({
        type: "trained",
        id: request.id,
        manifest: outcome.weights.manifest,
        values: outcome.weights.values,
        numExamples: outcome.numExamples,
        metrics: outcome.metrics,
      });
      return;
    }
    case "evaluate": {
      const { trainer } = await timed(request, () => trainerOf(request.site));
      const outcome = await trainer.evaluate(request.task, {
        manifest: request.manifest,
        values: request.values,
      });
      send({
        type: "evaluated",
        id: request.id,
        confusion: outcome.confusion,
        numExamples: outcome.numExamples,
        metrics: outcome.metrics,
        ...(outcome.statistics && { statistics: outcome.statistics }),
      });
      return;
    }
  }
}

process.on("message", (request: WorkerRequest) => {
  handle(request).catch((error: unknown) => {
    send({
      type: "error",
      id: "id" in request ? request.id : -1,
      code: FlError.from(error).code,
      message: errorMessage(error),
    });
  });
});
process.on("disconnect", () => process.exit(0));
