import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkCentralEvaluation, trainerCentralEvaluator } from "../../../cli/commands/central-evaluator.js";
import { CENTRAL_SITE_ID, type CentralEvaluator } from "../../../coordinator/src/central-evaluation.js";
import { CentralEvaluationSchema } from "../../../coordinator/src/config.js";
import { initialModelWeights } from "../../../coordinator/src/model-init.js";
import type { PlanInput } from "../../../coordinator/src/plan.js";
import type { ModelSpec } from "../../../shared/src/fl/model-spec.js";
import { summarizeData } from "../../../shared/src/ml/data/index.js";
import { InProcessFederation } from "../../helpers/in-process-federation.js";
import type { InProcessSite } from "../../helpers/in-process-site.js";

/**
 * The coordinator's own test set scored in a real trainer child process (the hospital's, with
 * tfjs and the synthetic generator) next to in-process sites: the "@central" record must be a
 * confusion matrix of exactly the set's images, row by row, and survive a restart.
 */

const MODEL: ModelSpec = { architecture: "small-cnn", imageSize: 32, widths: [4, 8], numClasses: 4, seed: 3 };
const CENTRAL = CentralEvaluationSchema.parse({
  data: {
    kind: "synthetic",
    preset: "5-hospitals",
    imagesPerSite: 30,
    imageSize: 32,
    seed: 11,
    splits: { val: 0.1, test: 0.8 },
  },
  site: "university",
  backend: "cpu",
});
const SITE_CONFUSION = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Both sites train (a small delta) and report until the plan ends. */
async function drive(fed: InProcessFederation, sites: InProcessSite[]): Promise<void> {
  await Promise.all(
    sites.map(async (site) => {
      for (;;) {
        const outcome = await site.pull();
        if (outcome.kind === "done") return;
        if (outcome.kind !== "task") continue;
        if (outcome.task.kind === "train")
          expect(await site.upload(site.seal(outcome.task, 0.01, 1))).toEqual({ accepted: true });
        else site.evaluate(outcome.task, SITE_CONFUSION);
      }
    }),
  );
  expect((await fed.run).status).toBe("completed");
}

describe("central evaluation in a trainer process", () => {
  it("records the set's confusion under @central, and a restarted coordinator scores a version left without one", async () => {
    const site = await checkCentralEvaluation(CENTRAL);
    expect(site).toBe("university");
    // The set's class counts, from the data module's partition (no pixels, no model).
    const summary = await summarizeData(CENTRAL.data as Parameters<typeof summarizeData>[0]);
    const testCounts = summary.sites.find((s) => s.siteId === "university")?.splits.test;
    expect(testCounts?.total).toBeGreaterThan(10);

    const logs: string[] = [];
    const stateDir = mkdtempSync(join(tmpdir(), "fl-central-"));
    cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
    const trainer = trainerCentralEvaluator(CENTRAL, {
      site,
      stateDir,
      log: (line) => logs.push(line),
    });
    cleanups.push(() => trainer.close());
    // The first coordinator's first central evaluation fails (as a crash would lose it).
    let calls = 0;
    const failingFirst: CentralEvaluator = {
      evaluate: (task, weights) =>
        ++calls === 1 ? Promise.reject(new Error("lost in a crash")) : trainer.evaluate(task, weights),
    };
    const plan: Partial<PlanInput> = {
      minSites: 2,
      evaluateEvery: 1,
      phases: [{ name: "p", task: "classify", rounds: 2 }],
    };
    const first = InProcessFederation.start({
      siteIds: ["a", "b"],
      model: MODEL,
      plan,
      initialWeights: (spec) => initialModelWeights(spec),
      central: { evaluator: failingFirst, schedule: { split: "test" } },
    });
    await drive(first, first.join("a", "b"));
    const centralOf = (fed: InProcessFederation) =>
      fed.store.listEvaluations().filter((e) => e.siteId === CENTRAL_SITE_ID);
    expect(centralOf(first).map((e) => e.modelVersion)).toEqual([2]);

    // Same state, a coordinator started again: v1 (an older checkpoint now) is scored on resume.
    (first as unknown as { setup: object }).setup = {
      ...first.setup,
      central: { evaluator: trainer, schedule: { split: "test" } },
    };
    const second = await first.restart();
    cleanups.push(() => second.close());
    await drive(second, second.join("a", "b"));
    const records = centralOf(second);
    expect(records.map((e) => [e.modelVersion, e.round])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    for (const record of records) {
      expect(record.split).toBe("test");
      expect(record.numExamples).toBe(testCounts?.total);
      expect(record.confusion.flat().reduce((a, b) => a + b, 0)).toBe(testCounts?.total);
      // [truth][predicted]: each row holds exactly that class's images of the set.
      expect(record.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(testCounts?.perClass);
    }
    expect(second.logs.some((l) => l.startsWith("central evaluation of model v1 (test split"))).toBe(true);
    expect(logs.some((l) => l.includes(`${testCounts?.total} test images`))).toBe(true);
  });
});
