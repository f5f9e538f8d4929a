import type { JobContext } from '../scheduler/job-context.ts';
import type { TaskFunction } from '../scheduler/task-registry.ts';
import type { Executor } from './executor.ts';

/**
 * Runs tasks in the event loop. A task that throws synchronously is turned into a rejection, so
 * it fails its own job and nothing else.
 */
export class AsyncExecutor implements Executor {
  run(fn: TaskFunction, context: JobContext, args: unknown): Promise<unknown> {
    return new Promise((resolve) => resolve(fn(context, args)));
  }
}
