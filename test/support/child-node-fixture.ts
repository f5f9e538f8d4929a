// The fixture side of test/support/child-node.ts: what every node-process fixture does alike,
// whatever store it opens. Kept apart from child-node.ts, which imports vitest and so cannot be
// loaded in a fixture process.
import { appendFileSync } from 'node:fs';
import type { JobContext, Scheduler } from 'kairos';
import type { RunLine } from './child-node.ts';

/** Appends the `RunLine` of a task start to the run log the test reads. */
export function recordRun(runLog: string, ctx: JobContext): void {
  const line: RunLine = {
    node: ctx.node,
    pid: process.pid,
    task: ctx.task,
    jobId: ctx.jobId,
    scheduleId: ctx.scheduleId,
    fireTime: ctx.fireTime?.toISOString() ?? null,
    attempt: ctx.attempt,
    at: Date.now(),
  };
  appendFileSync(runLog, `${JSON.stringify(line)}\n`);
}

/**
 * Starts the scheduler and prints `ready <nodeId>`. On SIGTERM it stops gracefully, prints the
 * lines `beforeStopped` gives, then `stopped <nodeId>`, and exits 0 (1 if the stop failed).
 */
export async function serveUntilSigterm(
  scheduler: Scheduler,
  nodeId: string,
  beforeStopped: () => string[] = () => [],
): Promise<void> {
  let stopping: Promise<void> | null = null;
  process.on('SIGTERM', () => {
    stopping ??= scheduler.stop().then(
      () => {
        process.stdout.write([...beforeStopped(), `stopped ${nodeId}`].map((line) => `${line}\n`).join(''));
        process.exit(0);
      },
      (error: unknown) => {
        console.error('stop failed', error);
        process.exit(1);
      },
    );
  });
  await scheduler.start();
  process.stdout.write(`ready ${nodeId}\n`);
}
