/**
 * A bounded hand-off between the producer of a sync's work (the listings) and its workers:
 * the producer waits while `capacity` items are waiting, so listings run ahead of the HEADs
 * by a bounded amount (memory holds at most `capacity` items, however long the listings).
 */
export class WorkQueue<T> {
  private readonly items: T[] = [];
  private closed = false;
  private readonly takers: ((item: T | undefined) => void)[] = [];
  private readonly givers: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  /** Hands an item over; waits while the queue is full. False when the queue was closed (the item is dropped). */
  async push(item: T): Promise<boolean> {
    while (!this.closed && this.items.length >= this.capacity && this.takers.length === 0) {
      await new Promise<void>((resolve) => this.givers.push(resolve));
    }
    if (this.closed) return false;
    const taker = this.takers.shift();
    if (taker) taker(item);
    else this.items.push(item);
    return true;
  }

  /** The next item; undefined once the queue is closed and empty. */
  async pull(): Promise<T | undefined> {
    const item = this.items.shift();
    if (item !== undefined) {
      this.givers.shift()?.();
      return item;
    }
    if (this.closed) return undefined;
    return new Promise<T | undefined>((resolve) => this.takers.push(resolve));
  }

  /** No more items: waiting takers get undefined; with `drop`, items still queued are dropped and their count returned. */
  close(drop = false): number {
    this.closed = true;
    const dropped = drop ? this.items.splice(0).length : 0;
    for (const taker of this.takers.splice(0)) taker(undefined);
    for (const giver of this.givers.splice(0)) giver();
    return dropped;
  }
}
