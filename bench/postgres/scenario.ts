// One benchmark scenario for one system, in its own process:
//   scenario.ts <kairos|kairos-prefetch|graphile-worker|pg-boss> drain <count>
//   scenario.ts <system> latency <samples>
//   scenario.ts <system> idle <seconds>
// Prints one JSON line.
import { percentile, preciseNow, round } from '../bench-report.ts';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { BENCH_DATABASE_URL, countQueries, dropSchema, sleep, until } from './bench-database.ts';
import { type BenchSystem, graphileWorker, KAIROS_PREFETCH, kairos, pgBoss } from './systems.ts';

const [systemName = 'kairos', mode = 'drain', amountArg] = process.argv.slice(2);
const schema = `bench_${systemName.replace(/\W/g, '_')}_${process.pid}`;
const factories: Record<string, (schema: string) => BenchSystem> = {
  kairos,
  'kairos-prefetch': (schema) => kairos(schema, KAIROS_PREFETCH),
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
  const serverBefore = await walPosition(observer);
  const machineBefore = machineCpuMs();
  const processBefore = process.cpuUsage();
  const began = performance.now();
  let started = 0;
  await system.startWorker(() => {
    started++;
  });
  // The database is asked only once every job has started: polling it meanwhile would take CPU
  // from the systems measured (a count over the queue table every few milliseconds is not free).
  await until(() => started >= count, 120_000, 1);
  await until(async () => (await system.remaining(query)) === 0, 120_000, 1);
  const seconds = (performance.now() - began) / 1000;
  const processCpu = process.cpuUsage(processBefore);
  const machineCpu = machineCpuMs() - machineBefore;
  const serverAfter = await walPosition(observer);
  await observer.end();
  // Where the CPU went, per job: this process (the worker) and the rest of the machine (mostly
  // the database server; the machine is shared, so this part is approximate).
  const workerMs = (processCpu.user + processCpu.system) / 1000;
  result = {
    jobs: count,
    seconds: round(seconds, 3),
    jobsPerSecond: Math.round(count / seconds),
    workerCpuUsPerJob: round((workerMs * 1000) / count, 1),
    restOfMachineCpuUsPerJob: round(((machineCpu - workerMs) * 1000) / count, 1),
    walBytesPerJob: Math.round((serverAfter - serverBefore) / count),
  };
} else if (mode === 'latency') {
  const samples = Number(amountArg ?? 200);
  const latencies: number[] = [];
  let last = 0;
  await system.startWorker((payload) => {
    if (payload.t !== undefined) latencies.push(preciseNow() - payload.t);
    last++;
  });
  await sleep(1000); // let every worker settle into idle before measuring
  // Every query the process sends while jobs trickle in (adding, notifying, claiming, recording,
  // polling), per job: what a database pays for a job at a low rate.
  const counter = countQueries();
  for (let i = 0; i < samples; i++) {
    const before = last;
    await system.addOne({ t: preciseNow() });
    await until(() => last > before, 30_000, 0.2);
    await sleep(20); // idle between samples
  }
  await sleep(200); // the last job is recorded
  const queriesPerJob = counter.count / samples;
  latencies.sort((a, b) => a - b);
  result = {
    samples,
    queriesPerJob: round(queriesPerJob, 2),
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

/** The database's WAL position in bytes: what it wrote between two readings (the whole server's). */
async function walPosition(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ wal: string }>(`SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS wal`);
  return Number(rows[0]?.wal ?? 0);
}

/** CPU time spent by the whole machine so far (user, nice, system, irq, softirq), from /proc/stat. */
function machineCpuMs(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields;
  return ((user + nice + system + irq + softirq) * 1000) / 100; // USER_HZ is 100 on Linux
}
