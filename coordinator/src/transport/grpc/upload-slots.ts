/**
 * How many uploads the coordinator assembles at once. Each one in progress holds its whole
 * plaintext (on an opening thread, then for verification), so K of them bound the memory uploads
 * take to about K × the model's bytes; a stream waiting for a slot is not read, and gRPC's flow
 * control holds its client back meanwhile.
 */
/** Two: uploads overlap on the two opening threads, and memory stays near 2 × the model's bytes. */
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 2;

export class UploadSlots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new Error(`limits.maxConcurrentUploads must be a positive integer, got ${size}`);
  }

  /**
   * Runs `start` once a slot is free (at once when one is). Returns the release: it frees the slot
   * once started, or leaves the queue before; calling it again does nothing.
   */
  acquire(start: () => void): () => void {
    let state: "waiting" | "running" | "done" = "waiting";
    const run = () => {
      state = "running";
      this.busy++;
      start();
    };
    if (this.busy < this.size) run();
    else this.waiting.push(run);
    return () => {
      if (state === "waiting") {
        const at = this.waiting.indexOf(run);
        if (at >= 0) this.waiting.splice(at, 1);
      } else if (state === "running") {
        this.busy--;
        this.waiting.shift()?.();
      }
      state = "done";
    };
  }

  /** Streams being read, and streams waiting for a slot. */
  counts(): { readonly running: number; readonly waiting: number } {
    return { running: this.busy, waiting: this.waiting.length };
  }
}
