// Scenario (c) with every system's own cron feature: `cron-lateness.ts <system> <schedules> <minutes>`.
// graphile-worker and pg-boss schedule at minute resolution only, so here every system gets
// <schedules> schedules firing every minute (`* * * * *`) on 2 node processes, and the lateness of
// each start (start time - fire time, in the worker) is measured over <minutes> minute boundaries
// after a warm-up. Kairos fires the same 1,000-schedule burst every second in fire-lateness.ts.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { percentile, round } from '../bench-report.ts';
import { dropSchema, sleep } from './bench-database.ts';

const [system = 'kairos', countArg = '1000', minutesArg = '2'] = process.argv.slice(2);
const schema = `bench_cron_${system.replace(/\W/g, '_')}_${process.pid}`;
await dropSchema(schema);
const script = fileURLToPath(new URL('./cron-node.ts', import.meta.url));
const nodes = [0, 1].map(() =>
  spawn(process.execPath, ['--conditions=kairos-source', script, system, schema, countArg], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }),
);
const outputs = nodes.map((node) => {
  let text = '';
  node.stdout.on('data', (chunk) => (text += String(chunk)));
  return () => text;
});
await Promise.all(nodes.map((node) => new Promise<void>((resolve) => node.stdout.once('data', () => resolve()))));
// The first boundary measured is the first one at least 10 s after both nodes are ready.
const firstBoundary = Math.ceil((Date.now() + 10_000) / 60_000) * 60_000;
const lastBoundary = firstBoundary + (Number(minutesArg) - 1) * 60_000;
// pg-boss starts a boundary's jobs up to tens of seconds late; the others within a second.
await sleep(lastBoundary + (system === 'pg-boss' ? 50_000 : 15_000) - Date.now());
for (const node of nodes) node.kill('SIGTERM');
await Promise.all(nodes.map((node) => new Promise((resolve) => node.once('exit', resolve))));
await dropSchema(schema);

const starts = outputs.flatMap((output) => {
  const lines = output().trim().split('\n');
  return JSON.parse(lines.at(-1) ?? '[]') as Array<[string, number, number]>;
});
const measured = starts.filter(([, fireTime]) => fireTime >= firstBoundary && fireTime <= lastBoundary);
const perFire = new Map<string, number>();
for (const [id, fireTime] of measured) perFire.set(`${id}@${fireTime}`, (perFire.get(`${id}@${fireTime}`) ?? 0) + 1);
const lateness = measured.map(([, , late]) => late).sort((a, b) => a - b);
const expected = Number(countArg) * Number(minutesArg);
console.log(
  JSON.stringify({
    system,
    mode: 'cron-lateness',
    schedules: Number(countArg),
    nodes: 2,
    boundaries: Number(minutesArg),
    expectedFires: expected,
    fires: perFire.size,
    missedFires: expected - perFire.size,
    duplicateFires: [...perFire.values()].filter((n) => n > 1).length,
    latenessP50Ms: round(percentile(lateness, 50), 1),
    latenessP99Ms: round(percentile(lateness, 99), 1),
    latenessMaxMs: round(lateness.at(-1) ?? Number.NaN, 1),
  }),
);
