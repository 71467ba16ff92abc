/**
 * Threads of each simulated hospital's trainer (`training.threads` in its config): one. The pool
 * below hands out one slot per core, so a threaded trainer would only take cores from the other
 * slots' trainers; and a run's results stay the same on any machine.
 */
export const TRAINER_THREADS_PER_SLOT = 1;

/**
 * Hands out training slots to client processes so that at most `capacity` train at once: on a
 * 2-core machine three WASM trainers would only slow each other down.
 */
export class SlotPool {
  private inUse = 0;
  private readonly queue: Array<() => void> = [];

  constructor(readonly capacity: number) {}

  acquire(): Promise<void> {
    if (this.inUse < this.capacity) {
      this.inUse++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.inUse = Math.max(0, this.inUse - 1);
  }
}

/**
 * The slots one client process holds. A process that dies mid-training never says "release",
 * and one that dies while waiting cannot use the slot it is granted: `close` hands both back, so
 * a crashed and restarted client does not shrink the pool.
 */
export class SlotHolder {
  private held = 0;
  private closed = false;

  constructor(private readonly pool: SlotPool) {}

  /** Resolves true once a slot is held; false when the holder closed meanwhile (the slot went back). */
  async acquire(): Promise<boolean> {
    await this.pool.acquire();
    if (this.closed) {
      this.pool.release();
      return false;
    }
    this.held++;
    return true;
  }

  release(): void {
    if (this.held === 0) return;
    this.held--;
    this.pool.release();
  }

  close(): void {
    this.closed = true;
    for (; this.held > 0; this.held--) this.pool.release();
  }
}
