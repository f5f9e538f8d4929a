// Scenario (c): 1,000 schedules firing every second on 2 Kairos node processes; lateness of each
// fire's start (startedAt - fireTime, from the executions table), measured after a warm-up.
//   fire-lateness.ts <schedules> <seconds> [fireAhead] [maxConcurrentJobs]   (defaults: the scheduler's)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { percentile, round } from '../bench-report.ts';
import { BENCH_DATABASE_URL, dropSchema, sleep } from './bench-database.ts';

const [countArg = '1000', secondsArg = '30', fireAhead = '0', maxConcurrentJobs = '100'] = process.argv.slice(2);
const WARM_UP_S = 10;
const schema = `bench_fires_${process.pid}`;
await dropSchema(schema);
const script = fileURLToPath(new URL('./fire-node.ts', import.meta.url));
const nodes = [0, 1].map(() =>
  spawn(process.execPath, ['--conditions=kairos-source', script, schema, countArg, fireAhead, maxConcurrentJobs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }),
);
await Promise.all(nodes.map((node) => new Promise<void>((resolve) => node.stdout.once('data', () => resolve()))));
const started = new Date();
await sleep(Number(secondsArg) * 1000);
for (const node of nodes) node.kill('SIGTERM');
await Promise.all(nodes.map((node) => new Promise((resolve) => node.once('exit', resolve))));

const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
await client.connect();
const { rows } = await client.query<{ lateness: number; duplicates: number; node: string }>(
  `SELECT extract(epoch FROM (started_at - fire_time)) * 1000 AS lateness, node FROM "${schema}".executions
   WHERE outcome = 'succeeded' AND fire_time >= $1`,
  [new Date(started.getTime() + WARM_UP_S * 1000)],
);
const { rows: dup } = await client.query<{ n: number }>(
  `SELECT count(*)::int AS n FROM (SELECT schedule_id, fire_time FROM "${schema}".executions GROUP BY 1, 2 HAVING count(*) > 1) d`,
);
const { rows: outcomes } = await client.query<{ outcome: string; n: number }>(
  `SELECT outcome, count(*)::int AS n FROM "${schema}".executions GROUP BY outcome`,
);
await client.end();
await dropSchema(schema);
const lateness = rows.map((row) => Number(row.lateness)).sort((a, b) => a - b);
const perNode: Record<string, number> = {};
for (const row of rows) perNode[row.node] = (perNode[row.node] ?? 0) + 1;
console.log(
  JSON.stringify({
    schedules: Number(countArg),
    nodes: 2,
    fireAhead,
    maxConcurrentJobs: Number(maxConcurrentJobs),
    measuredSeconds: Number(secondsArg) - WARM_UP_S,
    fires: lateness.length,
    perNode: Object.values(perNode),
    duplicateFires: dup[0]?.n ?? 0,
    outcomes: Object.fromEntries(outcomes.map((row) => [row.outcome, row.n])),
    latenessP50Ms: round(percentile(lateness, 50), 2),
    latenessP99Ms: round(percentile(lateness, 99), 2),
    latenessMaxMs: round(lateness.at(-1) as number, 2),
  }),
);
