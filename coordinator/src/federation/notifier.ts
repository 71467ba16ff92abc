import type { Clock } from "./clock.js";

/**
 * Wakes whoever waits for "something may have changed" (a new round, a site joining, the end of
 * the plan). Waiters re-check their condition when woken, so a spurious wake is harmless.
 */
export class Notifier {
  private readonly waiters = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves at the next `notify`, after `ms`, or when `signal` aborts, whichever is first. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        cancel();
        signal?.removeEventListener("abort", done);
        this.waiters.delete(done);
        resolve();
      };
      const cancel = this.clock.after(ms, done);
      signal?.addEventListener("abort", done);
      this.waiters.add(done);
      if (signal?.aborted) done();
    });
  }
}
