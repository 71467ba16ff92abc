import { sealUpdate } from "../../client/src/seal-update.js";
import { type ClientTls, GrpcCoordinatorPort } from "../../client/src/transport/grpc/coordinator-client.js";
import { type Identity, type PublicIdentity, sharedKey, signJoin } from "../../shared/src/crypto/index.js";
import type { SealedUpdate, UploadVerdict } from "../../shared/src/fl/messages.js";
import type { FlTask } from "../../shared/src/fl/task.js";
import { deserializeWeights, selectTensors } from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import { TEST_SITE_INFO } from "./in-process-site.js";

/**
 * A scripted hospital for protocol tests: speaks real gRPC through the production client adapter
 * and update sealing, but its "training" is a delta the test chooses, so results are exact.
 */
export class FakeSite {
  readonly connection: GrpcCoordinatorPort;
  token = "";
  federationId = "";
  key: Uint8Array;

  constructor(
    address: string,
    readonly identity: Identity,
    coordinator: PublicIdentity,
    tls?: ClientTls,
  ) {
    this.connection = new GrpcCoordinatorPort(address, tls);
    this.key = sharedKey(identity.encryption.secretKey, coordinator.encryptionPublicKey);
  }

  async join(): Promise<void> {
    const challenge = await this.connection.getChallenge(this.identity.id);
    const signature = signJoin(this.identity, challenge.federationId, challenge.challenge);
    const joined = await this.connection.join({
      siteId: this.identity.id,
      challenge: challenge.challenge,
      signature,
      info: TEST_SITE_INFO,
    });
    this.token = joined.sessionToken;
    this.federationId = joined.federationId;
  }

  /** Long-polls until a task arrives (or "done"), rejoining after a coordinator restart. */
  async nextTask(timeoutMs = 30_000): Promise<FlTask | "done"> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      try {
        const outcome = await this.connection.pullTask(this.token, 2000);
        if (outcome.kind === "task") return outcome.task;
        if (outcome.kind === "done") return "done";
        if (outcome.kind === "unrunnable") throw new Error(`${this.identity.id}: ${outcome.reason}`);
      } catch {
        await new Promise((r) => setTimeout(r, 200));
        await this.join().catch(() => {});
      }
    }
    throw new Error(`${this.identity.id}: no task within ${timeoutMs} ms`);
  }

  async download(task: FlTask): Promise<ModelWeights> {
    return deserializeWeights(
      await this.connection.downloadModel(this.token, task.modelVersion, task.modelSha256),
    );
  }

  /** An update whose every shared element is `value` (or what `fill` returns). */
  pack(
    task: FlTask,
    global: ModelWeights,
    fill: number | ((i: number) => number),
    numExamples: number,
    overrides: Partial<Parameters<typeof sealUpdate>[0]> = {},
  ): SealedUpdate {
    const shared = selectTensors(global, "shared");
    const values = new Float32Array(shared.values.length);
    for (let i = 0; i < values.length; i++) values[i] = typeof fill === "number" ? fill : fill(i);
    return sealUpdate({
      delta: { manifest: shared.manifest, values },
      identity: this.identity,
      key: this.key,
      federationId: this.federationId,
      round: task.round,
      modelVersion: task.modelVersion,
      taskId: task.taskId,
      numExamples,
      ...overrides,
    });
  }

  upload(sealed: SealedUpdate): Promise<UploadVerdict> {
    return this.connection.uploadUpdate(this.token, sealed, { loss: 1 });
  }

  close(): void {
    this.connection.close();
  }
}
