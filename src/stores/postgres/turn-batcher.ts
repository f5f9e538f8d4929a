/**
 * Collects calls made in one turn of the event loop and hands them to `run` together: many job
 * releases become one statement. `run` answers with one result per item, in order.
 */
export class TurnBatcher<Item, Result> {
  private queue: Array<{ item: Item; resolve(result: Result): void; reject(error: unknown): void }> = [];
  private scheduled = false;
  private readonly run: (items: readonly Item[]) => Promise<Result[]>;

  constructor(run: (items: readonly Item[]) => Promise<Result[]>) {
    this.run = run;
  }

  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Runs what is queued now (also before the pool closes). */
  async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      const results = await this.run(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => entry.resolve(results[index] as Result));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }
}
