/**
 * The trainer: a child process of the hospital client that owns TensorFlow.js, the site's data
 * and the model, so that training never blocks the client's networking event loop (heartbeats,
 * long-polls). It answers requests from trainer-host.ts over IPC.
 */
import type * as tfl from "@tensorflow/tfjs-layers";
import { DataConfigSchema, loadSiteSplits } from "../../../shared/src/data/index.js";
import type { SiteSplits } from "../../../shared/src/data/types.js";
import { errorMessage, FlError } from "../../../shared/src/errors.js";
import { buildModel, manifestOf, readWeights, writeWeights } from "../../../shared/src/model/index.js";
import type { ModelSpec } from "../../../shared/src/model/spec.js";
import { initBackend, type LoadedBackend, parseBackendPreference } from "../../../shared/src/tf/backend.js";
import { evaluateClassifier, trainClassifier } from "./local-training.js";
import type { TrainerRequest, TrainerResponse } from "./protocol.js";

let backend: LoadedBackend | undefined;
let data: SiteSplits | undefined;
let cached: { key: string; model: tfl.LayersModel } | undefined;

function send(message: TrainerResponse): void {
  process.send?.(message);
}

function modelFor(spec: ModelSpec): tfl.LayersModel {
  const key = JSON.stringify(spec);
  if (cached?.key !== key) {
    cached?.model.dispose();
    cached = { key, model: buildModel(spec) };
  }
  return cached.model;
}

async function handle(request: TrainerRequest): Promise<void> {
  switch (request.type) {
    case "init": {
      backend = await initBackend({
        prefer: parseBackendPreference(request.backend),
        log: (line) => process.stderr.write(`[trainer ${request.siteId}] ${line}\n`),
      });
      data = await loadSiteSplits(DataConfigSchema.parse(request.data), request.siteId, {
        cacheDir: request.cacheDir,
        log: (line) => process.stderr.write(`[data ${request.siteId}] ${line}\n`),
      });
      const counts = [0, 0, 0, 0];
      for (const label of data.train.labels) if (label >= 0) counts[label] = (counts[label] ?? 0) + 1;
      send({
        type: "ready",
        backend: backend.name,
        backendDetail: backend.detail,
        trainClassCounts: counts,
        valCount: data.val.count,
        testCount: data.test.count,
      });
      return;
    }
    case "train": {
      const { tf, model } = ready(request.model);
      writeWeights(model, { manifest: request.manifest, values: request.values });
      const result = await trainClassifier(tf, model, (data as SiteSplits).train, {
        hyper: request.hyper,
        numClasses: request.model.numClasses,
        seed: request.seed,
        onProgress: (fraction) => send({ type: "progress", id: request.id, fraction, status: "training" }),
      });
      const trained = readWeights(model, manifestOf(model));
      send({
        type: "trained",
        id: request.id,
        manifest: trained.manifest,
        values: trained.values,
        numExamples: result.numExamples,
        metrics: result.metrics,
      });
      return;
    }
    case "evaluate": {
      const { tf, model } = ready(request.model);
      writeWeights(model, { manifest: request.manifest, values: request.values });
      const split = (data as SiteSplits)[request.split];
      const result = await evaluateClassifier(tf, model, split, { numClasses: request.model.numClasses });
      send({
        type: "evaluated",
        id: request.id,
        confusion: result.confusion,
        numExamples: result.numExamples,
        metrics: result.metrics,
      });
      return;
    }
  }
}

function ready(spec: ModelSpec): { tf: LoadedBackend["tf"]; model: tfl.LayersModel } {
  if (!backend || !data) throw new Error("trainer used before init");
  return { tf: backend.tf, model: modelFor(spec) };
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
