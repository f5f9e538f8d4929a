// One node of the cron-lateness scenario: `cron-node.ts <kairos|graphile-worker|pg-boss> <schema> <schedules>`.
// Declares <schedules> schedules firing every minute with the system's own cron feature, runs a
// no-op task, and notes for each start its schedule, its fire time and how late it started. On
// SIGTERM it stops and prints those notes as one JSON line.
import { cron, Scheduler, silentLogger } from 'kairos';
import { PostgresStore } from 'kairos/postgres';
import { Logger, parseCronItems, run } from 'graphile-worker';
import { PgBoss } from 'pg-boss';
import { BENCH_DATABASE_URL } from './bench-database.ts';

const [system = 'kairos', schema = 'bench_cron', countArg = '1000'] = process.argv.slice(2);
const count = Number(countArg);
const ids = Array.from({ length: count }, (_, i) => `s-${i}`);
/** [schedule id, fire time (epoch ms), lateness (ms)] per start. */
const starts: Array<[string, number, number]> = [];
const note = (id: string, fireTime: number) => starts.push([id, fireTime, Date.now() - fireTime]);

let stop: () => Promise<void>;
if (system === 'kairos') {
  const scheduler = new Scheduler({
    store: new PostgresStore({ connectionString: BENCH_DATABASE_URL, schema }),
    logger: silentLogger,
  });
  scheduler.task('tick', (ctx, args: { id: string }) => note(args.id, ctx.fireTime?.getTime() ?? Number.NaN));
  for (const id of ids) await scheduler.addSchedule('tick', cron('* * * * *'), { id, args: { id } });
  await scheduler.start();
  stop = () => scheduler.stop();
} else if (system === 'graphile-worker') {
  const runner = await run({
    noHandleSignals: true,
    logger: new Logger(() => () => {}),
    taskList: {
      tick: async (payload) => {
        const { id, _cron } = payload as { id: string; _cron: { ts: string } };
        note(id, Date.parse(_cron.ts));
      },
    },
    parsedCronItems: parseCronItems(
      ids.map((id) => ({ task: 'tick', match: '* * * * *', identifier: id, payload: { id } })),
    ),
    preset: {
      worker: {
        connectionString: BENCH_DATABASE_URL,
        schema,
        concurrentJobs: 100,
        pollInterval: 2000,
        preparedStatements: true,
        localQueue: { size: 1000 },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      },
    },
  });
  stop = () => runner.stop();
} else if (system === 'pg-boss') {
  // Its most eager documented settings: the cron pass and the cron sender poll every second.
  const boss = new PgBoss({
    connectionString: BENCH_DATABASE_URL,
    schema,
    useListenNotify: true,
    cronMonitorIntervalSeconds: 1,
    cronWorkerIntervalSeconds: 1,
  } as ConstructorParameters<typeof PgBoss>[0]);
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('tick', { notify: true } as Parameters<typeof boss.createQueue>[1]);
  for (const id of ids) await boss.schedule('tick', '* * * * *', { id }, { key: id });
  await boss.work(
    'tick',
    { batchSize: 100, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true } as never,
    (async (jobs: Array<{ data: { id: string } }>) => {
      // pg-boss's job does not carry the occurrence it was sent for: the minute it started in.
      for (const job of jobs) note(job.data.id, Math.floor(Date.now() / 60_000) * 60_000);
    }) as never,
  );
  stop = () => boss.stop({ graceful: false, close: true } as never);
} else {
  throw new Error(`unknown system ${system}`);
}
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await stop();
  process.stdout.write(`${JSON.stringify(starts)}\n`);
  process.exit(0);
});
