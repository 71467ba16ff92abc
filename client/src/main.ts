import { mkdirSync } from "node:fs";
import { readIdentityFile, readPublicIdentityFile } from "../../shared/src/config/key-files.js";
import { readFileBytes } from "../../shared/src/config/load.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import { PLAN_COMPLETE_REASON } from "../../shared/src/fl/protocol-constants.js";
import { resolveThreads } from "../../shared/src/ml/tf/threads/thread-count.js";
import { type ClientConfig, PLAINTEXT_EXPOSES } from "./config.js";
import { SiteNode } from "./node.js";
import { diagnoseTls } from "./tls-diagnosis.js";
import { siteInfoOf, TrainerHost } from "./training/trainer-host.js";
import type { TrainingSlots } from "./training-slots.js";
import { GrpcCoordinatorPort } from "./transport/grpc/coordinator-client.js";

export const CLIENT_VERSION = "0.1.0";

export interface ClientHooks {
  readonly log: (line: string) => void;
  readonly slots: TrainingSlots;
  readonly onProgress?: (p: { round: number; kind: string; fraction: number; status: string }) => void;
  readonly onStarted?: (stop: () => void) => void;
  /** Called once the trainer is ready, with the backend it loaded. */
  readonly onReady?: (info: { backend: string; backendDetail: string }) => void;
}

/**
 * `fl client`'s exit status: 0 when the coordinator completed its plan or the client was stopped
 * here (a signal), 1 when the coordinator ended the federation any other way (it failed, for
 * example on a full disk, or shut down before the end), so that a supervisor notices.
 */
export function clientExitCode(reason: string, stoppedHere: boolean): number {
  return reason === PLAN_COMPLETE_REASON || stoppedHere ? 0 : 1;
}

/** The hospital client's composition root: keys, trainer process, coordinator port, node loop. */
export async function runClient(
  config: ClientConfig,
  hooks: ClientHooks,
): Promise<{ reason: string; exitCode: number }> {
  if (config.insecure)
    hooks.log(
      `WARNING: insecure: true: dialling the coordinator without TLS: ${PLAINTEXT_EXPOSES}. For a lab only.`,
    );
  const identity = readIdentityFile(config.identity);
  if (identity.id !== config.siteId) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `siteId "${config.siteId}" does not match the identity file's id "${identity.id}" (${config.identity})`,
    );
  }
  const coordinator = readPublicIdentityFile(config.coordinatorPublicKey);
  mkdirSync(config.workDir, { recursive: true });
  const trainer = new TrainerHost({ logPrefix: config.siteId, log: hooks.log });
  const port = new GrpcCoordinatorPort(
    config.coordinator,
    config.tls
      ? {
          ca: readFileBytes(config.tls.ca, "TLS CA certificate"),
          ...(config.tls.cert && { cert: readFileBytes(config.tls.cert, "TLS certificate") }),
          ...(config.tls.key && { key: readFileBytes(config.tls.key, "TLS private key") }),
        }
      : "insecure",
  );
  try {
    const ready = await trainer.init({
      siteId: config.siteId,
      data: config.data,
      backend: config.backend,
      cacheDir: `${config.workDir}/cache`,
      threads: resolveThreads(config.training.threads),
    });
    hooks.log(
      `trainer ready on backend ${ready.backend} (${ready.backendDetail}); ${ready.trainClassCounts.reduce((a, b) => a + b, 0)} training images, class counts ${ready.trainClassCounts.join("/")}`,
    );
    hooks.onReady?.({ backend: ready.backend, backendDetail: ready.backendDetail });
    const tls = config.tls;
    const node = new SiteNode({
      identity,
      coordinator,
      federationId: config.federationId,
      port,
      trainer,
      slots: hooks.slots,
      siteInfo: siteInfoOf(ready, CLIENT_VERSION),
      reconnectTimeoutMs: config.reconnectTimeoutSec * 1000,
      log: hooks.log,
      privacy: config.privacy,
      ...(hooks.onProgress && { onProgress: hooks.onProgress }),
      ...(tls && {
        diagnoseUnreachable: (error) =>
          diagnoseTls(error, {
            coordinator: config.coordinator,
            ca: tls.ca,
            ...(tls.cert && { cert: tls.cert }),
          }),
      }),
    });
    let stoppedHere = false;
    hooks.onStarted?.(() => {
      stoppedHere = true;
      node.stop();
    });
    const { reason } = await node.run();
    return { reason, exitCode: clientExitCode(reason, stoppedHere) };
  } finally {
    trainer.close();
    port.close();
  }
}
