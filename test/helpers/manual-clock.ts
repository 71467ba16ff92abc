import type { Cancel, Clock } from "../../coordinator/src/federation/clock.js";

interface Timer {
  at: number;
  readonly fn: () => void;
  readonly period?: number;
}

/**
 * A clock that moves only when a test says so. `advance` fires due timers in time order and lets
 * the promise chains they start run to their next wait, so a deadline or a heartbeat sweep
 * happens exactly when the test moves time past it.
 */
export class ManualClock implements Clock {
  private nowMs: number;
  private readonly timers = new Map<number, Timer>();
  private nextId = 0;

  constructor(startMs = Date.UTC(2024, 0, 1)) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  after(ms: number, fn: () => void): Cancel {
    return this.add({ at: this.nowMs + Math.max(0, ms), fn });
  }

  every(ms: number, fn: () => void): Cancel {
    const period = Math.max(1, ms);
    return this.add({ at: this.nowMs + period, fn, period });
  }

  /** Moves time on by `ms`, firing every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.nowMs + ms;
    for (;;) {
      await settle();
      const next = this.nextDue(until);
      if (!next) break;
      const [id, timer] = next;
      this.nowMs = timer.at;
      if (timer.period === undefined) this.timers.delete(id);
      else timer.at += timer.period;
      timer.fn();
    }
    this.nowMs = until;
    await settle();
  }

  private add(timer: Timer): Cancel {
    const id = this.nextId++;
    this.timers.set(id, timer);
    return () => this.timers.delete(id);
  }

  private nextDue(until: number): [number, Timer] | undefined {
    let best: [number, Timer] | undefined;
    for (const entry of this.timers)
      if (entry[1].at <= until && (!best || entry[1].at < best[1].at)) best = entry;
    return best;
  }
}

/** Lets every promise chain run until it waits on a timer or on another party. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
