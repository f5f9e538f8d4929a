// One benchmark scenario for one system, in its own process:
//   scenario.ts <kairos|graphile-worker|pg-boss> drain <count>
//   scenario.ts <system> latency <samples>
//   scenario.ts <system> idle <seconds>
// Prints one JSON line.
import { percentile, preciseNow, round } from '../bench-report.ts';
import pg from 'pg';
import { BENCH_DATABASE_URL, countQueries, dropSchema, sleep, until } from './bench-database.ts';
import { type BenchSystem, graphileWorker, kairos, pgBoss } from './systems.ts';

const [systemName = 'kairos', mode = 'drain', amountArg] = process.argv.slice(2);
const schema = `bench_${systemName.replace(/\W/g, '_')}_${process.pid}`;
const factories: Record<string, (schema: string) => BenchSystem> = {
  kairos,
  'graphile-worker': graphileWorker,
  'pg-boss': pgBoss,
};
const factory = factories[systemName];
if (factory === undefined) throw new Error(`unknown system ${systemName}`);
await dropSchema(schema);
const system = factory(schema);

let result: object;
if (mode === 'drain') {
  const count = Number(amountArg ?? 20_000);
  await system.preload(count);
  // Every system gets planner statistics for its freshly filled tables, as a running database has.
  const analyzer = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await analyzer.connect();
  const { rows: tables } = await analyzer.query<{ name: string }>(
    `SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS name FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema],
  );
  for (const table of tables) await analyzer.query(`ANALYZE ${table.name}`);
  await analyzer.end();
  // Drained = every job finished and recorded as such in the system's own tables.
  const observer = new pg.Pool({ connectionString: BENCH_DATABASE_URL, max: 1 });
  const query = async (sql: string) => (await observer.query<{ n: number }>(sql)).rows[0]?.n ?? 0;
  const began = performance.now();
  await system.startWorker(() => {});
  await until(async () => (await system.remaining(query)) === 0, 120_000, 5);
  const seconds = (performance.now() - began) / 1000;
  await observer.end();
  result = { jobs: count, seconds: round(seconds, 3), jobsPerSecond: Math.round(count / seconds) };
} else if (mode === 'latency') {
  const samples = Number(amountArg ?? 200);
  const latencies: number[] = [];
  let last = 0;
  await system.startWorker((payload) => {
    if (payload.t !== undefined) latencies.push(preciseNow() - payload.t);
    last++;
  });
  await sleep(1000); // let every worker settle into idle before measuring
  for (let i = 0; i < samples; i++) {
    const before = last;
    await system.addOne({ t: preciseNow() });
    await until(() => last > before, 30_000, 0.2);
    await sleep(20); // idle between samples
  }
  latencies.sort((a, b) => a - b);
  result = {
    samples,
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    maxMs: round(latencies.at(-1) as number, 2),
  };
} else if (mode === 'idle') {
  const seconds = Number(amountArg ?? 60);
  await system.startWorker(() => {});
  await sleep(5000); // start-up queries are not idle cost
  const counter = countQueries();
  await sleep(seconds * 1000);
  result = { seconds, queries: counter.count, queriesPerSecond: round(counter.count / seconds, 3) };
} else {
  throw new Error(`unknown mode ${mode}`);
}
await system.stop();
await dropSchema(schema);
console.log(JSON.stringify({ system: systemName, mode, ...result }));
process.exit(0);
