import {
  createInProcessEventBus,
  createLocalFirstBus,
  type EventBus,
} from "../../shared/src/events/index.js";
import { createNatsEventBus, type NatsEventBusOptions } from "../../shared/src/events/nats-bus.js";
import type { CoordinatorConfig } from "./config.js";

/** The JetStream stream of a federation's audit log (stream names allow no '-'). */
export function auditStreamName(federationId: string): string {
  return `FL_${federationId.replace(/-/g, "_")}`;
}

/** The NATS bus options of a coordinator config's `nats` block. */
export function natsBusOptions(
  federationId: string,
  nats: NonNullable<CoordinatorConfig["nats"]>,
  log: (line: string) => void,
): NatsEventBusOptions {
  const tls = nats.tls && {
    ...(nats.tls.ca !== undefined && { caFile: nats.tls.ca }),
    ...(nats.tls.cert !== undefined && { certFile: nats.tls.cert }),
    ...(nats.tls.key !== undefined && { keyFile: nats.tls.key }),
  };
  return {
    url: nats.url,
    federationId,
    subjectPrefix: nats.subjectPrefix,
    ...(nats.jetstream && { jetstream: { stream: auditStreamName(federationId) } }),
    ...(nats.auth && { auth: nats.auth }),
    ...(tls && { tls }),
    log,
  };
}

/**
 * The coordinator's event bus. With NATS configured, the federation's own subscribers (reports,
 * progress, completion) are still fed in this process and NATS gets a copy that may lag or fail
 * (`createLocalFirstBus`), so a broker outage costs only the outward copy. Connecting at start
 * is required: a wrong URL or refused credentials stop the coordinator with the reason.
 */
export async function openCoordinatorEventBus(
  config: Pick<CoordinatorConfig, "federationId" | "nats">,
  log: (line: string) => void,
): Promise<EventBus> {
  if (config.nats === undefined) return createInProcessEventBus();
  const outward = await createNatsEventBus(natsBusOptions(config.federationId, config.nats, log));
  return createLocalFirstBus({ outward, log });
}
