// Scenario (c): start-up time of a scheduler on a SQLite file that already holds 100,000 schedules.
// Run twice: with "fill" to make the file (not timed), then with "start" in a fresh process.
import { interval, Scheduler, silentLogger } from 'kairos';
import { SqliteStore } from 'kairos/sqlite';
import { round } from '../bench-report.ts';

const [mode, path, countArg = '100000', driver = 'better-sqlite3'] = process.argv.slice(2) as [
  string,
  string,
  string?,
  string?,
];
const store = () => new SqliteStore({ path, driver: driver as 'better-sqlite3' });

if (mode === 'fill') {
  const scheduler = new Scheduler({ store: store(), logger: silentLogger });
  scheduler.task('tick', () => {});
  const count = Number(countArg);
  // Fire times far enough ahead that none is due while we measure.
  const startDate = new Date(Date.now() + 3_600_000).toISOString();
  for (let i = 0; i < count; i++) {
    await scheduler.addSchedule('tick', interval({ minutes: 1 + (i % 60), startDate }), { id: `s-${i}` });
  }
  await scheduler.stop();
  console.log(JSON.stringify({ filled: count }));
} else {
  const began = performance.now();
  const scheduler = new Scheduler({ store: store(), logger: silentLogger });
  scheduler.task('tick', () => {});
  await scheduler.start();
  const startMs = performance.now() - began;
  const schedules = (await scheduler.getSchedules({ limit: 1 })).items.length;
  await scheduler.stop();
  console.log(
    JSON.stringify({ storedSchedules: Number(countArg), startUpMs: round(startMs, 1), sawSchedules: schedules === 1 }),
  );
}
