import { afterEach, describe, expect, it } from "vitest";
import { EvaluationReport as WireEvaluationReport } from "../../../proto/gen/fl/v1/federation.js";
import { publicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import type { FlTask } from "../../../shared/src/fl/task.js";
import type { EvaluationStatistics } from "../../../shared/src/metrics/evaluation-statistics.js";
import { confusionMatrix } from "../../../shared/src/metrics/index.js";
import { poolStatistics } from "../../../shared/src/metrics/pool-statistics.js";
import { computeSiteStatistics } from "../../../shared/src/metrics/site-statistics.js";
import { summariseStatistics } from "../../../shared/src/metrics/summarise-statistics.js";
import { Rng } from "../../../shared/src/random.js";
import { MAX_MESSAGE_BYTES } from "../../../shared/src/transport/grpc-options.js";
import { statisticsToWire } from "../../../shared/src/transport/grpc-statistics.js";
import { type Harness, startHarness } from "../../helpers/coordinator-harness.js";
import { FakeSite } from "../../helpers/fake-site.js";

/**
 * Evaluation statistics over real gRPC: they arrive bit for bit (so the request MAC, computed on
 * both sides over the same doubles, verifies), are kept in SQLite, pooled into the announcement,
 * and malformed ones are refused without closing the site's task.
 */

let harness: Harness | undefined;
const sites: FakeSite[] = [];

afterEach(async () => {
  for (const s of sites.splice(0)) s.close();
  await harness?.close();
  harness = undefined;
});

/** A site's scores: softmax of noisy logits leaning towards the truth, doubles with long expansions. */
function scored(n: number, seed: number) {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, (_, i) => i % 4);
  const probabilities = new Float32Array(n * 4);
  labels.forEach((label, i) => {
    const logits = [0, 1, 2, 3].map((c) => (c === label ? 1.2 : 0) + 1.5 * rng.next());
    const total = logits.reduce((a, l) => a + Math.exp(l), 0);
    for (const [c, l] of logits.entries()) probabilities[i * 4 + c] = Math.exp(l) / total;
  });
  const predicted = labels.map((_, i) => {
    const row = Array.from(probabilities.subarray(i * 4, i * 4 + 4));
    return row.indexOf(Math.max(...row));
  });
  return { labels, probabilities, confusion: confusionMatrix(labels, predicted, 4) };
}

function statisticsOf(
  site: ReturnType<typeof scored>,
  replicates: number,
  seed: number,
): EvaluationStatistics {
  return computeSiteStatistics({
    probabilities: site.probabilities,
    labels: site.labels,
    numClasses: 4,
    bootstrapReplicates: replicates,
    bootstrapSeed: seed,
    validation: { probabilities: site.probabilities, labels: site.labels },
  });
}

async function waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function evaluationTasks(): Promise<{ a: FakeSite; b: FakeSite; ta: FlTask; tb: FlTask }> {
  harness = await startHarness({
    siteIds: ["a", "b"],
    plan: {
      phases: [{ name: "p", task: "classify", rounds: 1 }],
      evaluationBootstrap: 50,
      evaluationTemperatureScaling: true,
    },
  });
  const h = harness;
  const [a, b] = ["a", "b"].map(
    (id) => new FakeSite(h.address, h.sites.get(id)!, publicIdentity(h.coordinator)),
  );
  sites.push(a!, b!);
  for (const s of [a!, b!]) await s.join();
  await Promise.all(
    [a!, b!].map(async (site) => {
      const task = await site.nextTask();
      if (task === "done") throw new Error("unexpected done");
      expect(await site.upload(site.pack(task, await site.download(task), 1, 10))).toMatchObject({
        accepted: true,
      });
    }),
  );
  const [ta, tb] = await Promise.all([a!.nextTask(), b!.nextTask()]);
  if (ta === "done" || tb === "done") throw new Error("unexpected done");
  return { a: a!, b: b!, ta, tb };
}

describe("evaluation statistics over real gRPC", () => {
  it("arrive exactly, pass the MAC, are stored, and are pooled into the announcement", async () => {
    const { a, b, ta, tb } = await evaluationTasks();
    expect(ta.kind === "evaluate" && ta.spec).toMatchObject({ bootstrap: 50, temperatureScaling: true });
    const sa = scored(37, 1);
    const sb = scored(23, 2);
    const statsA = statisticsOf(sa, 50, 11);
    const statsB = statisticsOf(sb, 50, 12);
    await a.evaluate(ta, sa.confusion, statsA);
    await b.evaluate(tb, sb.confusion, statsB);
    const h = harness!;
    await waitFor(() => h.events.some((e) => e.type === "evaluation.completed"));
    const stored = Object.fromEntries(h.store.listEvaluations(1).map((e) => [e.siteId, e.statistics]));
    // toStrictEqual on doubles is bit-exact (Object.is): nothing rounded on the way.
    expect(stored.a).toStrictEqual(JSON.parse(JSON.stringify(statsA)));
    expect(stored.b).toStrictEqual(JSON.parse(JSON.stringify(statsB)));
    const expected = summariseStatistics(poolStatistics([statsA, statsB]));
    const completed = h.events.find((e) => e.type === "evaluation.completed")!;
    expect(completed.data).toMatchObject({
      pooled: {
        count: 60,
        macroAuc: expected.macroAuc!.value,
        mAP: expected.mAP!.value,
        ece: expected.ece,
        brier: expected.brier,
      },
    });
  });

  it("refuses malformed statistics with the reason, and the task stays open for a good report", async () => {
    const { a, b, ta, tb } = await evaluationTasks();
    const sa = scored(20, 3);
    const good = statisticsOf(sa, 5, 1);
    const short = { ...good, scores: good.scores.slice(1) };
    await expect(a.evaluate(ta, sa.confusion, short)).rejects.toMatchObject({
      code: ErrorCode.InvalidArgument,
      message: expect.stringContaining("evaluation statistics refused"),
    });
    const miscounted = { ...good, count: good.count + 1 };
    await expect(a.evaluate(ta, sa.confusion, miscounted)).rejects.toMatchObject({
      code: ErrorCode.InvalidArgument,
    });
    expect(harness!.store.listEvaluations(1)).toHaveLength(0);
    await a.evaluate(ta, sa.confusion, good);
    const sb = scored(8, 4);
    await b.evaluate(tb, sb.confusion, statisticsOf(sb, 5, 2));
    await waitFor(() => harness!.events.some((e) => e.type === "evaluation.completed"));
    expect(harness!.store.listEvaluations(1).map((e) => e.siteId)).toEqual(["a", "b"]);
  });

  it("fit the server's message limit at the most replicates a task may ask for", () => {
    const site = scored(2000, 5);
    const bytes = (replicates: number) =>
      WireEvaluationReport.encode({
        sessionToken: "x".repeat(43),
        taskId: "t",
        round: 1,
        modelVersion: 1,
        split: "test",
        numExamples: 2000,
        numClasses: 4,
        confusion: site.confusion.flat(),
        metrics: {},
        sequence: 1,
        mac: Buffer.alloc(32),
        statistics: statisticsToWire(statisticsOf(site, replicates, 1)),
      }).finish().length;
    const at200 = bytes(200);
    const at1000 = bytes(1000);
    process.stdout.write(`evaluation report bytes: 200 replicates ${at200}, 1000 replicates ${at1000}\n`);
    expect(at1000).toBeLessThan(MAX_MESSAGE_BYTES / 4);
    expect(at200).toBeLessThan(at1000);
  });
});
