import type { Scheduler } from '../../src/scheduler/scheduler.ts';
import type { TaskOptions } from '../../src/scheduler/task-registry.ts';

/** One run of a task registered with `runsUntilStopped`. */
export interface RunUntilStopped {
  node: string;
  attempt: number;
  /** When it started, by `now`. */
  startedAt: number;
  /** Whether another run of the same task was going on (on any scheduler of the same `runs`) when it started. */
  overlapping: boolean;
  /** Why and when its signal aborted (by `now`), if it did. */
  stopped?: { kind: string; at: number };
  /** Ends the run as if the task returned. */
  finish(): void;
}

/**
 * Registers `task` on each scheduler as a task that runs until its signal aborts (it then returns)
 * or the test calls `finish()`; returns the runs, in the order they started. `now` times them.
 */
export function runsUntilStopped(
  schedulers: readonly Scheduler[],
  task: string,
  now: () => number = Date.now,
  options?: TaskOptions,
): RunUntilStopped[] {
  const runs: RunUntilStopped[] = [];
  let active = 0;
  for (const scheduler of schedulers) {
    scheduler.task(
      task,
      (ctx) =>
        new Promise<void>((resolve) => {
          let ended = false;
          const end = () => {
            if (ended) return;
            ended = true;
            active--;
            resolve();
          };
          const run: RunUntilStopped = {
            node: ctx.node,
            attempt: ctx.attempt,
            startedAt: now(),
            overlapping: active > 0,
            finish: end,
          };
          runs.push(run);
          active++;
          ctx.signal.addEventListener('abort', () => {
            run.stopped = { kind: (ctx.signal.reason as { kind: string }).kind, at: now() };
            end();
          });
        }),
      options,
    );
  }
  return runs;
}
