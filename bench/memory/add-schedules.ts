// Scenario (a): add 1,000,000 schedules (half cron, half interval) through the public API.
import { cron, interval, Scheduler, silentLogger } from 'kairos';
import { round } from '../bench-report.ts';

const COUNT = Number(process.argv[2] ?? 1_000_000);
const EXPRESSIONS = [
  '*/5 * * * *',
  '0 9 * * mon-fri',
  '30 2 * * *',
  '0 */6 * * *',
  '15 14 1 * *',
  '0 0 L * *',
  '0 12 * * sun',
  '*/15 9-17 * * 1-5',
];
const gc = globalThis.gc as () => void;

const scheduler = new Scheduler({ timezone: 'UTC', logger: silentLogger });
scheduler.task('noop', () => {});
await scheduler.start();
gc();
// Memory per schedule counts everything a stored schedule holds, its id string included.
const heapBefore = process.memoryUsage().heapUsed;
// Ids as an application has them (read from its database or config: flat strings), made before
// timing; building the strings is the caller's work, storing them is ours.
const ids: string[] = JSON.parse(JSON.stringify(Array.from({ length: COUNT }, (_, i) => `schedule-${i}`)));
const started = performance.now();
for (let i = 0; i < COUNT; i++) {
  const trigger =
    i % 2 === 0 ? cron(EXPRESSIONS[(i >> 1) % EXPRESSIONS.length] as string) : interval({ minutes: 1 + (i % 60) });
  await scheduler.addSchedule('noop', trigger, { id: ids[i] as string });
}
const elapsedMs = performance.now() - started;
ids.length = 0; // the stored schedules keep their own references
gc();
const heapAfter = process.memoryUsage().heapUsed;
const stored = (await scheduler.getSchedules({ ids: [`schedule-${COUNT - 1}`] })).items.length;
await scheduler.stop();
console.log(
  JSON.stringify({
    schedules: COUNT,
    stored,
    seconds: round(elapsedMs / 1000, 3),
    addsPerSecond: Math.round(COUNT / (elapsedMs / 1000)),
    bytesPerSchedule: Math.round((heapAfter - heapBefore) / COUNT),
  }),
);
