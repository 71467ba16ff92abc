/** Cancels a timer; calling it again does nothing. */
export type Cancel = () => void;

/**
 * Time as the federation sees it: deadlines, long-polls, heartbeat sweeps and timestamps all go
 * through one injected clock, so tests can run a whole round in milliseconds with a manual one.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): Cancel;
  /** Calls `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Cancel;
}

/** Wall-clock time and Node timers; the timers never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms).unref();
    return () => clearInterval(timer);
  },
};
