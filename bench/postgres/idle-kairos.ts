// Scenario (d) for Kairos: queries per second of one idle node holding 100,000 schedules of which
// none is due (their first fires are a day away).
import { interval, Scheduler, silentLogger } from 'kairos';
import { PostgresStore } from 'kairos/postgres';
import { round } from '../bench-report.ts';
import { BENCH_DATABASE_URL, countQueries, dropSchema, sleep } from './bench-database.ts';

const [countArg = '100000', secondsArg = '60'] = process.argv.slice(2);
const schema = `bench_idle_${process.pid}`;
await dropSchema(schema);
const scheduler = new Scheduler({
  store: new PostgresStore({ connectionString: BENCH_DATABASE_URL, schema }),
  logger: silentLogger,
});
scheduler.task('tick', () => {});
const startDate = new Date(Date.now() + 86_400_000).toISOString();
for (let i = 0; i < Number(countArg); i += 1000) {
  await Promise.all(
    Array.from({ length: Math.min(1000, Number(countArg) - i) }, (_, k) =>
      scheduler.addSchedule('tick', interval({ hours: 1, startDate }), { id: `s-${i + k}` }),
    ),
  );
}
await scheduler.start();
await sleep(5000); // start-up is not idle cost
const counter = countQueries();
await sleep(Number(secondsArg) * 1000);
const queries = counter.count;
await scheduler.stop();
await dropSchema(schema);
console.log(
  JSON.stringify({
    system: 'kairos',
    schedules: Number(countArg),
    seconds: Number(secondsArg),
    queries,
    queriesPerSecond: round(queries / Number(secondsArg), 3),
  }),
);
