/**
 * Limits how many trainers run at once on one machine (one per core in a simulation). A
 * standalone hospital client has the machine to itself and never waits.
 */
export interface TrainingSlots {
  /** Resolves with a release function once this client may train. */
  acquire(): Promise<() => void>;
}

export const unlimitedSlots: TrainingSlots = { acquire: async () => () => {} };

/**
 * Asks the parent process (the simulation) for a slot over Node IPC. The parent answers
 * {type:"slot.granted", id} and is told {type:"slot.release", id}.
 */
export function ipcSlots(): TrainingSlots {
  let next = 1;
  return {
    acquire() {
      const id = next++;
      return new Promise((resolve) => {
        const onMessage = (message: unknown) => {
          const m = message as { type?: string; id?: number };
          if (m.type === "slot.granted" && m.id === id) {
            process.off("message", onMessage);
            resolve(() => process.send?.({ type: "slot.release", id }));
          }
        };
        process.on("message", onMessage);
        process.send?.({ type: "slot.acquire", id });
      });
    },
  };
}
