/**
 * The most recently used keys, at most `capacity` of them, each with a value: what a trainer
 * worker keeps loaded (a site's images and trainers). `set` returns the entries it pushed out.
 */
export class RecentlyUsed<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, not ${capacity}`);
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    // Map keeps insertion order: re-inserting makes the key the newest.
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  set(key: K, value: V): [K, V][] {
    this.entries.delete(key);
    this.entries.set(key, value);
    const evicted: [K, V][] = [];
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.entries().next().value as [K, V];
      this.entries.delete(oldest[0]);
      evicted.push(oldest);
    }
    return evicted;
  }

  get size(): number {
    return this.entries.size;
  }
}
