import type { CoordinatorPort } from "../../../shared/src/fl/ports.js";
import type { Gate } from "./gate.js";

/**
 * The port with some of its calls passed through gates, shared by all the virtual hospitals.
 * Hundreds of hospitals joining at once make hundreds of TLS handshakes and signatures at once,
 * and all of them evaluating at once download the model hundreds of times at once: both event
 * loops stall, and hospitals miss the heartbeats and long-polls by which the coordinator knows
 * they are alive.
 */
export function withGates(
  port: CoordinatorPort,
  gates: Partial<Record<keyof CoordinatorPort, Gate>>,
): CoordinatorPort {
  return new Proxy(port, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const gate = gates[property as keyof CoordinatorPort];
      if (gate) return (...args: unknown[]) => gate.run(() => value.apply(target, args));
      return value.bind(target);
    },
  });
}
