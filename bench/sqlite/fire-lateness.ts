// Scenario (b): 10,000 schedules on a SQLite file, due spread evenly across one minute; how late
// does each fire start?
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interval, Scheduler, silentLogger } from 'kairos';
import { SqliteStore } from 'kairos/sqlite';
import { percentile, preciseNow, round } from '../bench-report.ts';

const [countArg = '10000', driver = 'better-sqlite3'] = process.argv.slice(2);
const COUNT = Number(countArg);
const dir = mkdtempSync(join(tmpdir(), 'kairos-bench-lateness-'));
const scheduler = new Scheduler({
  store: new SqliteStore({ path: join(dir, 'fires.db'), driver: driver as 'better-sqlite3' }),
  logger: silentLogger,
});
const lateness: number[] = [];
let done: () => void = () => {};
const allFired = new Promise<void>((resolve) => (done = resolve));
scheduler.task('tick', (ctx) => {
  lateness.push(preciseNow() - (ctx.fireTime as Date).getTime());
  if (lateness.length === COUNT) done();
});

// Every schedule fires once a minute; their first fires are spread over the minute after a lead-in.
const LEAD_IN_MS = 10_000;
const first = Math.ceil((Date.now() + LEAD_IN_MS) / 1000) * 1000;
for (let i = 0; i < COUNT; i++) {
  const startDate = new Date(first + Math.floor((i * 60_000) / COUNT)).toISOString();
  await scheduler.addSchedule('tick', interval({ minutes: 1, startDate }), { id: `s-${i}` });
}
if (Date.now() > first - 1000) throw new Error('adding the schedules took longer than the lead-in');
await scheduler.start();
await allFired;
await scheduler.stop();
rmSync(dir, { recursive: true, force: true });
lateness.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    schedules: COUNT,
    driver,
    fires: lateness.length,
    latenessP50Ms: round(percentile(lateness, 50), 2),
    latenessP99Ms: round(percentile(lateness, 99), 2),
    latenessMaxMs: round(lateness.at(-1) as number, 2),
  }),
);
