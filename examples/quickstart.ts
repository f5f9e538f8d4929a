/**
 * The quick start: a scheduler with a few schedules on a SQLite file, printing every execution as
 * it happens. Run it with `npm start`; stop it with Ctrl-C (it shuts down gracefully) and start it
 * again: the schedules and the history are still there, and fires missed while it was down are
 * caught up (coalesced). KAIROS_EXAMPLE_SECONDS=N stops it after N seconds;
 * KAIROS_EXAMPLE_DB chooses the file (default: kairos-example.db).
 */
import { cron, type ExecutionRecord, interval, Scheduler } from 'kairos';
import { SqliteStore } from 'kairos/sqlite';

const path = process.env.KAIROS_EXAMPLE_DB ?? 'kairos-example.db';
const scheduler = new Scheduler({ timezone: 'UTC', store: new SqliteStore({ path }) });

scheduler.task('heartbeat', () => 'alive');
scheduler.task('report', async (ctx) => {
  await ctx.sleep('300ms'); // pretend to build a report
  return { rows: Math.floor(Math.random() * 100), for: ctx.fireTime?.toISOString() };
});
scheduler.task(
  'flaky-sync',
  (ctx) => {
    if (Math.random() < 0.5) throw new Error('upstream timed out');
    return `synced on attempt ${ctx.attempt}`;
  },
  { retry: { attempts: 3, backoff: '1s' } },
);
scheduler.task('send-email', async (_ctx, args: { to: string }) => `sent to ${args.to}`);

const earlier = await scheduler.getExecutions({ limit: 1 });
const known = await scheduler.getSchedules();
console.log(
  earlier.items.length === 0
    ? `Fresh database ${path}.`
    : `Reopened ${path}: ${known.items.length} schedules kept; last run recorded at ${earlier.items[0]?.finishedAt.toISOString()}.`,
);

// Declared at every start under fixed ids: updated in place, history kept, never duplicated.
await scheduler.addSchedule('heartbeat', interval({ seconds: 2 }), { id: 'heartbeat' });
await scheduler.addSchedule('report', cron('*/10 * * * * *'), { id: 'report-every-10s' });
await scheduler.addSchedule('flaky-sync', interval({ seconds: 5 }), { id: 'flaky-sync' });

const time = (date: Date | null) => (date ? date.toISOString().slice(11, 23) : '--:--:--.---');
function print(execution: ExecutionRecord, retryAt: Date | null): void {
  const what = execution.scheduleId ? `schedule ${execution.scheduleId}` : `job ${execution.jobId.slice(-8)}`;
  const detail = execution.error ? execution.error.message : JSON.stringify(execution.result);
  const retry = retryAt ? `, retry at ${time(retryAt)}` : '';
  console.log(
    `${time(execution.finishedAt)}  ${execution.outcome.padEnd(9)}  ${execution.task.padEnd(10)}  ${what}, fired ${time(execution.fireTime)}, attempt ${execution.attempt}, ${execution.durationMs ?? 0} ms: ${detail}${retry}`,
  );
}
for (const type of [
  'job.succeeded',
  'job.failed',
  'job.timed_out',
  'job.missed',
  'job.skipped',
  'job.abandoned',
  'job.cancelled',
] as const) {
  scheduler.on(type, (event) => print(event.execution, event.retryAt));
}

await scheduler.start();
console.log(`Kairos node ${scheduler.nodeId} started; Ctrl-C to stop.`);
for (const schedule of (await scheduler.getSchedules()).items) {
  console.log(`  ${schedule.id.padEnd(18)} next ${schedule.nextFireTime?.toISOString()}`);
}
console.log(`  one-off job result: ${await scheduler.runJob('send-email', { args: { to: 'ops@example.com' } })}`);

const stop = async () => {
  console.log('stopping...');
  await scheduler.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
const seconds = Number(process.env.KAIROS_EXAMPLE_SECONDS);
if (seconds > 0) setTimeout(stop, seconds * 1000);
