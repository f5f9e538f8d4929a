// One Kairos node of the fire-lateness scenario: declares the schedules (as every node of an app
// does), runs until SIGTERM, then stops gracefully.
import { interval, Scheduler, silentLogger } from 'kairos';
import { PostgresStore } from 'kairos/postgres';
import { BENCH_DATABASE_URL } from './bench-database.ts';

const [schema = 'bench_fires', countArg = '1000', fireAhead = '0', maxConcurrentJobs = '100'] = process.argv.slice(2);
const scheduler = new Scheduler({
  store: new PostgresStore({ connectionString: BENCH_DATABASE_URL, schema }),
  logger: silentLogger,
  fireAhead,
  maxConcurrentJobs: Number(maxConcurrentJobs),
});
scheduler.task('tick', () => {});
for (let i = 0; i < Number(countArg); i++) {
  await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: `s-${i}` });
}
await scheduler.start();
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await scheduler.stop();
  process.exit(0);
});
