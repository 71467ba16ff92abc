import { setTimeout as sleep } from "node:timers/promises";
import { sealUpdate } from "../../client/src/seal-update.js";
import type { ClientTls } from "../../client/src/transport/grpc/credentials.js";
import type { Identity, PublicIdentity } from "../../shared/src/crypto/index.js";
import { callBody, SessionMethod } from "../../shared/src/fl/session-calls.js";
import type { FlTask } from "../../shared/src/fl/task.js";
import { deserializeWeights, selectTensors } from "../../shared/src/weights/index.js";
import { FakeSite } from "../../test/helpers/fake-site.js";
import { TEST_SITE_INFO } from "../../test/helpers/in-process-site.js";
import type { SiteRound } from "./split.js";

/** What each site declares and weighs its update with: the test site's training images. */
const NUM_EXAMPLES = TEST_SITE_INFO.trainClassCounts.reduce((a, b) => a + b, 0);

const now = () => performance.timeOrigin + performance.now();

export interface SitesOptions {
  readonly address: string;
  readonly identities: readonly Identity[];
  readonly coordinator: PublicIdentity;
  /** Each site's client certificate, by site id; absent for plaintext. */
  readonly tls?: (siteId: string) => ClientTls;
  /** The synthetic training: this long asleep, then the fixed delta. */
  readonly trainingMs: number;
  /** The delta every site sends (its values do not matter to what is measured, only its size). */
  readonly delta: Float32Array;
  /**
   * Sites upload only once all have sealed, so that every upload is in flight at once, as from
   * hospitals that finish training together: the coordinator's worst case for memory, and the
   * same concurrency as the raw grpc-js streams. Otherwise the shared sealing worker staggers them.
   */
  readonly uploadsTogether: boolean;
}

/**
 * Scripted sites over real gRPC (test/helpers/fake-site.ts: the production client adapter and
 * session) that seal with the production sealUpdate, on its worker thread. All sites run in
 * this process, so they share one sealing worker: their sealings queue behind each other, as
 * they would share a machine's cores if the sites were separate processes on it.
 */
export class BenchSites {
  private readonly sites: FakeSite[];
  private readonly sealed = new Map<number, { count: number; all: Promise<void>; arrive: () => void }>();

  constructor(private readonly options: SitesOptions) {
    this.sites = options.identities.map(
      (identity) => new FakeSite(options.address, identity, options.coordinator, options.tls?.(identity.id)),
    );
  }

  async join(): Promise<void> {
    await Promise.all(this.sites.map((site) => site.join()));
  }

  /**
   * Every site takes part until the federation is done; resolves with what each measured. A site
   * that fails rejects at once, so that the run ends rather than waits for a round's deadline.
   */
  run(stop: { readonly now: boolean }): Promise<SiteRound[]> {
    return Promise.all(this.sites.map((site) => this.takePart(site, stop))).then((all) => all.flat());
  }

  close(): void {
    for (const site of this.sites) site.close();
  }

  private async takePart(site: FakeSite, stop: { readonly now: boolean }): Promise<SiteRound[]> {
    const rounds: SiteRound[] = [];
    let pending: SiteRound | undefined;
    while (!stop.now) {
      const task = await site.nextTask(600_000).catch((error: Error) => {
        if (stop.now) return "done" as const;
        throw error;
      });
      if (task === "done") break;
      if (task.kind === "evaluate") {
        const t0 = performance.now();
        await site.evaluate(
          task,
          [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0))),
        );
        if (pending) rounds.push({ ...pending, evaluationReportMs: performance.now() - t0 });
        pending = undefined;
        continue;
      }
      if (task.kind !== "train")
        throw new Error(`${site.identity.id}: unexpected ${(task as FlTask).kind} task`);
      if (pending) rounds.push(pending);
      pending = await this.train(site, task);
    }
    if (pending) rounds.push(pending);
    return rounds;
  }

  /**
   * The download, and of the model only what the update needs: the shared tensors' layout. The
   * model's bytes go as soon as it returns, so that 25 sites of a 25M model hold their sealed
   * updates while they wait to upload, not their models as well.
   */
  private async download(site: FakeSite, task: FlTask) {
    const startMs = now();
    const bytes = await site.connection.downloadModel(
      site.session.authorize(SessionMethod.DownloadModel, callBody.downloadModel(task.modelVersion)),
      task.modelVersion,
      task.modelSha256,
    );
    const download = { startMs, endMs: now() };
    const shared = selectTensors(deserializeWeights(bytes), "shared");
    if (shared.values.length !== this.options.delta.length)
      throw new Error(
        `${site.identity.id}: the model shares ${shared.values.length} values, the delta has ${this.options.delta.length}`,
      );
    return { download, downloadBytes: bytes.length, manifest: shared.manifest };
  }

  /** Resolves once every site has sealed its update for the round. */
  private allSealed(round: number): Promise<void> {
    let barrier = this.sealed.get(round);
    if (!barrier) {
      let arrive = () => {};
      const all = new Promise<void>((resolve) => {
        arrive = resolve;
      });
      barrier = { count: 0, all, arrive };
      this.sealed.set(round, barrier);
    }
    barrier.count++;
    if (barrier.count === this.sites.length) barrier.arrive();
    return barrier.all;
  }

  private async train(site: FakeSite, task: Extract<FlTask, { kind: "train" }>): Promise<SiteRound> {
    const id = site.identity.id;
    const { download, downloadBytes, manifest } = await this.download(site, task);
    const trainStart = performance.now();
    if (this.options.trainingMs > 0) await sleep(this.options.trainingMs);
    const trainingMs = performance.now() - trainStart;
    const sealStart = performance.now();
    const sealed = await sealUpdate({
      delta: { manifest, values: this.options.delta },
      identity: site.identity,
      key: site.session.updateKey,
      federationId: site.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples: NUM_EXAMPLES,
    });
    const sealingMs = performance.now() - sealStart;
    if (this.options.uploadsTogether) await this.allSealed(task.round);
    const uploadStart = now();
    const verdict = await site.upload(sealed);
    const upload = { startMs: uploadStart, endMs: now() };
    if (!verdict.accepted) throw new Error(`${id}: update refused: ${verdict.message}`);
    return {
      siteId: id,
      round: task.round,
      download,
      downloadBytes,
      trainingMs,
      sealingMs,
      upload,
      uploadBytes: sealed.chunks.reduce((sum, chunk) => sum + chunk.length, 0),
    };
  }
}
