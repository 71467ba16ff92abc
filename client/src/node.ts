import type { z } from "zod";
import { type Identity, type PublicIdentity, sharedKey, signJoin } from "../../shared/src/crypto/index.js";
import { ErrorCode, errorMessage, FlError, isFlError } from "../../shared/src/errors.js";
import { EvaluateTaskConfigSchema, TrainTaskConfigSchema } from "../../shared/src/fl/task-config.js";
import {
  computeDelta,
  deserializeWeights,
  mergeTensors,
  selectTensors,
  sharingRule,
  withSharing,
} from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import type { TrainerHost } from "./training/trainer-host.js";
import type { TrainingSlots } from "./training-slots.js";
import type { AssignedTask, CoordinatorConnection } from "./transport/grpc/coordinator-client.js";
import { packUpdate } from "./update-packer.js";

export interface HospitalNodeOptions {
  readonly identity: Identity;
  readonly coordinator: PublicIdentity;
  readonly connection: CoordinatorConnection;
  readonly trainer: TrainerHost;
  readonly slots: TrainingSlots;
  readonly siteInfo: {
    trainClassCounts: number[];
    validationCount: number;
    testCount: number;
    backend: string;
    clientVersion: string;
  };
  readonly reconnectTimeoutMs: number;
  readonly log: (line: string) => void;
  readonly onProgress?: (p: { round: number; kind: string; fraction: number; status: string }) => void;
}

const LONG_POLL_MS = 20_000;

/**
 * A hospital node: joins, long-polls for tasks, trains or evaluates in its trainer process while
 * heartbeating, and uploads sealed updates. Coordinator restarts and network blips are retried;
 * tensors declared local never leave the site and survive between rounds.
 */
export class HospitalNode {
  private session:
    | { token: string; federationId: string; key: Uint8Array; heartbeatIntervalMs: number }
    | undefined;
  private localWeights: ModelWeights | undefined;
  private unreachableSince: number | undefined;
  private stopped = false;

  constructor(private readonly options: HospitalNodeOptions) {}

  stop(): void {
    this.stopped = true;
  }

  /** Runs until the coordinator says the federation is done. */
  async run(): Promise<{ reason: string }> {
    const { connection, log } = this.options;
    while (!this.stopped) {
      try {
        const session = this.session ?? (await this.join());
        const outcome = await connection.pullTask(session.token, LONG_POLL_MS);
        this.unreachableSince = undefined;
        if (outcome.kind === "done") {
          log(`federation finished: ${outcome.reason}`);
          await connection.leave(session.token, "federation finished").catch(() => {});
          return { reason: outcome.reason };
        }
        if (outcome.kind === "task") await this.runTask(session, outcome.task);
        else if (outcome.retryAfterMs > 0) await sleep(outcome.retryAfterMs);
      } catch (error) {
        await this.recover(error);
      }
    }
    if (this.session) await connection.leave(this.session.token, "client stopped").catch(() => {});
    return { reason: "stopped" };
  }

  private async join(): Promise<NonNullable<HospitalNode["session"]>> {
    const { connection, identity, coordinator, siteInfo, log } = this.options;
    const challenge = await connection.getChallenge(identity.id);
    const signature = signJoin(identity, challenge.federationId, new Uint8Array(challenge.challenge));
    const joined = await connection.join({
      siteId: identity.id,
      challenge: challenge.challenge,
      signature: Buffer.from(signature),
      info: siteInfo,
    });
    if (
      !Buffer.from(joined.coordinatorEncryptionPublicKey).equals(Buffer.from(coordinator.encryptionPublicKey))
    ) {
      throw new FlError(
        ErrorCode.SignatureInvalid,
        "the coordinator's encryption key differs from the configured coordinatorPublicKey: refusing to send updates to it",
      );
    }
    this.session = {
      token: joined.sessionToken,
      federationId: joined.federationId,
      key: sharedKey(identity.encryption.secretKey, coordinator.encryptionPublicKey),
      heartbeatIntervalMs: joined.heartbeatIntervalMs || 2000,
    };
    log(`joined federation "${joined.federationId}" as ${identity.id}`);
    return this.session;
  }

  /** Decides what an error means: rejoin, retry later, or give up. */
  private async recover(error: unknown): Promise<void> {
    const { log, reconnectTimeoutMs } = this.options;
    if (isFlError(error, ErrorCode.Unauthenticated)) {
      log("session no longer valid (coordinator restarted?): joining again");
      this.session = undefined;
      return;
    }
    if (isFlError(error, ErrorCode.Timeout)) {
      this.unreachableSince ??= Date.now();
      if (Date.now() - this.unreachableSince > reconnectTimeoutMs) {
        throw new FlError(
          ErrorCode.Timeout,
          `coordinator unreachable for ${Math.round(reconnectTimeoutMs / 1000)} s; giving up`,
          { cause: error },
        );
      }
      this.session = undefined;
      await sleep(1000);
      return;
    }
    if (isFlError(error, ErrorCode.UnknownSite) || isFlError(error, ErrorCode.SignatureInvalid)) throw error;
    log(`error: ${errorMessage(error)}; continuing`);
    await sleep(1000);
  }

  private async runTask(session: NonNullable<HospitalNode["session"]>, task: AssignedTask): Promise<void> {
    const { connection, trainer, log } = this.options;
    let progress = 0;
    let status = "downloading";
    const beat = setInterval(() => {
      connection.heartbeat(session.token, task.taskId, progress, status).catch(() => {});
    }, session.heartbeatIntervalMs);
    try {
      const raw = parseTaskJson(task.configJson);
      const bytes = await connection.downloadModel(session.token, task.modelVersion, task.modelSha256);
      // The task's phase says which tensors stay here; they keep this site's values, the shared
      // ones come from the global model.
      const rule = sharingRule(task.kind === "train" ? parseTask(TrainTaskConfigSchema, raw).local : []);
      const global = withSharing(deserializeWeights(bytes), rule);
      const start = this.localWeights ? keepLocalTensors(global, this.localWeights) : global;
      const report = (fraction: number, s: string) => {
        progress = fraction;
        status = s;
        this.options.onProgress?.({ round: task.round, kind: task.kind, fraction, status: s });
      };
      if (task.kind === "evaluate") {
        status = "evaluating";
        const config = parseTask(EvaluateTaskConfigSchema, raw);
        const result = await trainer.evaluate(config, start);
        await connection.reportEvaluation({
          sessionToken: session.token,
          taskId: task.taskId,
          round: task.round,
          modelVersion: task.modelVersion,
          split: "test",
          numExamples: result.numExamples,
          numClasses: config.model.numClasses,
          confusion: result.confusion.flat(),
          metrics: result.metrics,
        });
        report(1, "evaluated");
        log(
          `round ${task.round}: evaluated model v${task.modelVersion} on ${result.numExamples} test images`,
        );
        return;
      }
      status = "waiting for a training slot";
      const release = await this.options.slots.acquire();
      let trained: Awaited<ReturnType<TrainerHost["train"]>>;
      try {
        report(0, "training");
        trained = await trainer.train(parseTask(TrainTaskConfigSchema, raw), start, report);
      } finally {
        release();
      }
      const trainedWeights = withSharing({ manifest: trained.manifest, values: trained.values }, rule);
      this.localWeights = trainedWeights;
      const delta = computeDelta(selectTensors(trainedWeights, "shared"), selectTensors(global, "shared"));
      status = "uploading";
      const packed = packUpdate({
        delta,
        identity: this.options.identity,
        key: session.key,
        federationId: session.federationId,
        round: task.round,
        modelVersion: task.modelVersion,
        taskId: task.taskId,
        numExamples: trained.numExamples,
      });
      const verdict = await connection.uploadUpdate(session.token, packed, trained.metrics);
      if (verdict.accepted)
        log(
          `round ${task.round}: update accepted (${trained.numExamples} examples, loss ${trained.metrics.loss?.toFixed(4)})`,
        );
      else log(`round ${task.round}: update rejected: ${verdict.reasonCode}: ${verdict.message}`);
    } catch (error) {
      // A task this site cannot finish is reported at once, so the round need not wait for the
      // deadline; connection problems are left to the retry loop.
      if (!isFlError(error, ErrorCode.Timeout) && !isFlError(error, ErrorCode.Unauthenticated)) {
        log(`round ${task.round}: giving up on the ${task.kind} task: ${errorMessage(error)}`);
        await connection
          .heartbeat(session.token, task.taskId, progress, "failed", errorMessage(error))
          .catch(() => {});
      }
      throw error;
    } finally {
      clearInterval(beat);
    }
  }
}

/**
 * The global model with this site's own values for the tensors that stay here (same name and
 * shape). A phase that changes the network keeps what still fits and takes the rest from the
 * global model.
 */
function keepLocalTensors(global: ModelWeights, local: ModelWeights): ModelWeights {
  const mine = new Map(local.manifest.tensors.map((t) => [t.name, t]));
  const kept = global.manifest.tensors.filter(
    (t) => t.sharing === "local" && mine.get(t.name)?.shape.join("x") === t.shape.join("x"),
  );
  if (kept.length === 0) return global;
  const names = new Set(kept.map((t) => t.name));
  const part = selectTensors(
    withSharing(local, (name) => (names.has(name) ? "local" : "shared")),
    "local",
  );
  return mergeTensors(global, part);
}

function parseTaskJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FlError(ErrorCode.InvalidArgument, `the task's config is not JSON: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Validates a task from the coordinator before any data is touched. */
function parseTask<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues
      .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
      .join("; ");
    throw new FlError(
      ErrorCode.InvalidArgument,
      `the coordinator sent a task this client cannot run (${problems}); is the client older than the coordinator?`,
    );
  }
  return result.data;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
