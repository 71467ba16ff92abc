/** How long a process whose parent died may take to stop by itself before it exits anyway. */
export const ORPHAN_GRACE_MS = 3000;

/**
 * A process started by `fl simulate` ends with it: once the IPC channel closes (the parent exited
 * or was killed, even by SIGKILL), it stops as on a signal and, should that take longer than a
 * grace period (a long-poll, a training round, a start not yet finished), exits anyway: there is
 * no one left to report to. Returns the function that ends the watch, called before the process
 * closes the channel itself.
 */
export function stopWhenParentDies(stop: () => void): () => void {
  const onDisconnect = () => {
    stop();
    setTimeout(() => process.exit(1), ORPHAN_GRACE_MS).unref();
  };
  process.once("disconnect", onDisconnect);
  return () => process.off("disconnect", onDisconnect);
}
