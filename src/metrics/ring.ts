/**
 * A fixed number of the latest items, oldest first: pushing onto a full ring overwrites its oldest
 * item, so memory is bounded by the capacity however long the daemon runs.
 */
export class BoundedRing<T> {
  private readonly items: (T | undefined)[];
  /** Where the next item goes. */
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`BoundedRing: capacity must be a whole number ≥ 1, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity).fill(undefined);
  }

  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const start = (this.next - this.count + this.capacity) % this.capacity;
    return Array.from({ length: this.count }, (_, i) => this.items[(start + i) % this.capacity]!);
  }
}
