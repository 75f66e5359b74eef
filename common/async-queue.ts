/**
 * An unbounded single-consumer queue that is async-iterable: producers push from callbacks
 * (gRPC stream events), the consumer awaits in order. close() ends the iteration.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private closed = false;

  /** Items pushed and not yet taken. */
  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.signal();
  }

  close(): void {
    this.closed = true;
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves at the next push or at close. */
  private nextPush(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  /**
   * Everything pushed since the consumer last took, as one array: a consumer that handles items
   * in bulk (a statement merging 100 agents' replies) wakes once per batch, not once per item.
   */
  async *batches(): AsyncGenerator<T[]> {
    while (true) {
      if (this.head < this.items.length) {
        const batch = this.head === 0 ? this.items.splice(0) : this.items.splice(0).slice(this.head);
        this.head = 0;
        yield batch;
        continue;
      }
      if (this.closed) return;
      await this.nextPush();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      if (this.head < this.items.length) {
        const item = this.items[this.head] as T;
        this.items[this.head++] = undefined as T;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items.splice(0, this.head);
          this.head = 0;
        }
        yield item;
        continue;
      }
      if (this.closed) return;
      await this.nextPush();
    }
  }
}
