/** Waits before restarting a crashed client: 1 s, 2 s, 4 s, … at most 10 s. */
export function restartDelayMs(restart: number): number {
  return Math.min(10_000, 1000 * 2 ** Math.max(0, restart - 1));
}

/** The last lines a process wrote, kept to say why a client that keeps crashing crashed. */
export class LineTail {
  private readonly kept: string[] = [];
  private partial = "";

  constructor(private readonly max: number) {}

  write(chunk: Buffer | string): void {
    const parts = (this.partial + chunk.toString()).split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) if (line.trim() !== "") this.kept.push(line);
    if (this.kept.length > this.max) this.kept.splice(0, this.kept.length - this.max);
  }

  /** The kept lines, the unfinished last one included. */
  lines(): string[] {
    const all = this.partial.trim() === "" ? [...this.kept] : [...this.kept, this.partial];
    return all.slice(-this.max);
  }
}
