/**
 * Counts the scheduler's own work in flight (loop passes, job finalisation). The test scheduler
 * waits for it to reach zero before it moves the virtual clock, so tests see every consequence of
 * one instant before the next one begins.
 */
export class ActivityTracker {
  private count = 0;
  private waiters: Array<() => void> = [];

  enter(): void {
    this.count++;
  }

  leave(): void {
    this.count--;
    if (this.count === 0 && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  get busy(): boolean {
    return this.count > 0;
  }

  whenIdle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Runs `work` counted as activity. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.enter();
    try {
      return await work();
    } finally {
      this.leave();
    }
  }
}
