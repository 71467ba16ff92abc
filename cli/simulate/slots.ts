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
