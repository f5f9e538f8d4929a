// Scenario (b): 100,000 one-off no-op jobs all due at the same instant; how late does each start?
import { Scheduler, silentLogger } from 'kairos';
import { percentile, preciseNow, round } from '../bench-report.ts';

const COUNT = Number(process.argv[2] ?? 100_000);
const scheduler = new Scheduler({ logger: silentLogger });
const lateness: number[] = [];
let resolveAll: () => void = () => {};
const allStarted = new Promise<void>((resolve) => (resolveAll = resolve));
scheduler.task('noop', (ctx) => {
  lateness.push(preciseNow() - ctx.runAt.getTime());
  if (lateness.length === COUNT) resolveAll();
});

// All jobs are due at one instant, MARGIN_MS after adding began; adding must be done by then.
const MARGIN_MS = 5_000;
const addStarted = performance.now();
const dueAt = new Date(Date.now() + MARGIN_MS);
for (let i = 0; i < COUNT; i++) await scheduler.addJob('noop', { runAt: dueAt });
const addSeconds = (performance.now() - addStarted) / 1000;
if (Date.now() >= dueAt.getTime() - 500)
  throw new Error(`adding ${COUNT} jobs took ${addSeconds} s, too close to their due time`);
await scheduler.start();
await allStarted;
lateness.sort((a, b) => a - b);
await scheduler.stop();
console.log(
  JSON.stringify({
    jobs: COUNT,
    addSeconds: round(addSeconds, 3),
    lastStartedAfterMs: round(lateness.at(-1) as number, 1),
    latenessP50Ms: round(percentile(lateness, 50), 2),
    latenessP99Ms: round(percentile(lateness, 99), 2),
  }),
);
