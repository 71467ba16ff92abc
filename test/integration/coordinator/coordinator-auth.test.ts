import { afterEach, expect, it } from "vitest";
import { SiteNode } from "../../../client/src/node.js";
import type { SiteTrainer } from "../../../client/src/training/trainer.js";
import { unlimitedSlots } from "../../../client/src/training-slots.js";
import { GrpcCoordinatorPort } from "../../../client/src/transport/grpc/coordinator-client.js";
import { type StartedServer, startGrpcServer } from "../../../coordinator/src/transport/grpc/service.js";
import { generateIdentity, publicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import { DEFAULT_MODEL_SPEC } from "../../../shared/src/fl/model-spec.js";
import { buildEvaluateTask } from "../../../shared/src/fl/task.js";
import { createManifest } from "../../../shared/src/weights/index.js";
import { seededRandom } from "../../helpers/crypto-fixtures.js";
import { TEST_SITE_INFO } from "../../helpers/in-process-site.js";
import { ScriptedCoordinator } from "../../helpers/scripted-coordinator.js";

const closers: (() => unknown)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/**
 * The attack, over real gRPC: a fake coordinator that holds only coordinator.public.json
 * (which every hospital has) asks a site to evaluate. Before the coordinator signed anything, it
 * received the site's class counts at join, then a test confusion matrix and metrics.
 */
it("gives a fake coordinator holding only the public keys nothing: no class counts, no evaluation", async () => {
  const site = generateIdentity("hospital-a", seededRandom(1));
  const impostor = new ScriptedCoordinator([publicIdentity(site)], {
    signingIdentity: generateIdentity("coordinator", seededRandom(2)),
  });
  const weights = { manifest: createManifest([{ name: "w", shape: [2] }]), values: new Float32Array(2) };
  const model = impostor.publishModel(1, weights);
  impostor.answerPulls({
    kind: "task",
    task: {
      taskId: "steal",
      round: 1,
      phase: "p",
      modelVersion: 1,
      modelSha256: model.sha256,
      modelBytes: model.bytes,
      deadlineMs: Date.now() + 60_000,
      kind: "evaluate",
      spec: buildEvaluateTask({ model: DEFAULT_MODEL_SPEC }),
    },
  });
  const server: StartedServer = await startGrpcServer(impostor, {
    listen: "127.0.0.1:0",
    security: "insecure",
    log: () => {},
  });
  closers.push(() => server.shutdown(100));
  const port = new GrpcCoordinatorPort(`127.0.0.1:${server.port}`, "insecure");
  closers.push(() => port.close());
  let evaluated = 0;
  const trainer: SiteTrainer = {
    train: () => Promise.reject(new Error("not asked")),
    evaluate: async () => {
      evaluated += 1;
      return { numExamples: 4, confusion: [[4]], metrics: { accuracy: 1 } };
    },
  };
  const node = new SiteNode({
    identity: site,
    coordinator: impostor.publicIdentity,
    federationId: "scripted",
    port,
    trainer,
    slots: unlimitedSlots,
    siteInfo: TEST_SITE_INFO,
    reconnectTimeoutMs: 5_000,
    log: () => {},
  });

  await expect(node.run()).rejects.toMatchObject({ code: ErrorCode.SignatureInvalid });
  expect(impostor.joins).toEqual([]);
  expect(impostor.evaluations).toEqual([]);
  expect(impostor.heartbeats).toEqual([]);
  expect(evaluated).toBe(0);
});
