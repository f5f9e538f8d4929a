import type { JobContext } from '../scheduler/job-context.ts';
import type { TaskFunction } from '../scheduler/task-registry.ts';

/**
 * Where a job's function runs. The scheduler owns concurrency, timeouts, cancellation and
 * retries; an executor only runs the function and reports how it settled, so every executor
 * (event loop, worker threads, child processes) has the same semantics.
 */
export interface Executor {
  run(fn: TaskFunction, context: JobContext, args: unknown): Promise<unknown>;
  stop?(): Promise<void>;
}
