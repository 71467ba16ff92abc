/**
 * The trainer: a child process of the hospital client that owns TensorFlow.js, the site's data
 * and the model, so that training never blocks the client's networking event loop (heartbeats,
 * long-polls). It answers requests from trainer-host.ts over IPC.
 */

import { errorMessage, FlError } from "../../../shared/src/errors.js";
import { DataConfigSchema, listSites, loadSiteSplits } from "../../../shared/src/ml/data/index.js";
import { initBackend, parseBackendPreference } from "../../../shared/src/ml/tf/backend.js";
import { evaluateTask } from "./evaluate.js";
import { NetworkCache } from "./network-cache.js";
import type { TrainerRequest, TrainerResponse } from "./protocol.js";
import { createTaskTrainer } from "./tasks/index.js";
import type { SiteTrainer } from "./trainer.js";

let runner: SiteTrainer | undefined;

function send(message: TrainerResponse): void {
  process.send?.(message);
}

async function handle(request: TrainerRequest): Promise<void> {
  switch (request.type) {
    case "init": {
      const backend = await initBackend({
        prefer: parseBackendPreference(request.backend),
        threads: request.threads ?? 1,
        log: (line) => process.stderr.write(`[trainer ${request.siteId}] ${line}\n`),
      });
      const config = DataConfigSchema.parse(request.data);
      const log = (line: string) => process.stderr.write(`[data ${request.siteId}] ${line}\n`);
      // A hospital's own folder usually holds only its images, without a site column: then its one
      // site is this hospital, whatever the folder calls it.
      const sites = await listSites(config, { cacheDir: request.cacheDir });
      const site =
        sites.length === 1 && !sites.includes(request.siteId) ? (sites[0] as string) : request.siteId;
      if (site !== request.siteId)
        log(`the dataset holds one site ("${site}"); training on it as ${request.siteId}`);
      const data = await loadSiteSplits(config, site, { cacheDir: request.cacheDir, log });
      const trainer = { backend, data, networks: new NetworkCache() };
      runner = {
        train: createTaskTrainer(trainer),
        evaluate: (task, weights) => evaluateTask(trainer, task, weights, { siteId: request.siteId }),
      };
      const counts = [0, 0, 0, 0];
      for (const label of data.train.labels) if (label >= 0) counts[label] = (counts[label] ?? 0) + 1;
      send({
        type: "ready",
        backend: backend.name,
        backendDetail: backend.detail,
        trainClassCounts: counts,
        trainUnlabelledCount: data.train.count - counts.reduce((a, b) => a + b, 0),
        valCount: data.val.count,
        testCount: data.test.count,
      });
      return;
    }
    case "train": {
      const outcome = await ready().train(
        request.task,
        { manifest: request.manifest, values: request.values },
        (fraction, status) => send({ type: "progress", id: request.id, fraction, status }),
      );
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
      const outcome = await ready().evaluate(request.task, {
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

function ready(): SiteTrainer {
  if (!runner) throw new Error("trainer used before init");
  return runner;
}

process.on("message", (request: TrainerRequest) => {
  handle(request).catch((error: unknown) => {
    const flError = FlError.from(error);
    send({
      type: "error",
      id: "id" in request ? request.id : -1,
      code: flError.code,
      message: errorMessage(error),
    });
  });
});
process.on("disconnect", () => process.exit(0));
