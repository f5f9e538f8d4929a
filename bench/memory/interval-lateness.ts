// Scenario (c): one schedule firing every 100 ms for 10 s (after 2 s of warm-up); how late does each fire start?
import { interval, Scheduler, silentLogger } from 'kairos';
import { percentile, preciseNow, round } from '../bench-report.ts';

const SECONDS = Number(process.argv[2] ?? 10);
const WARM_UP_MS = 2000; // V8 tiers hot code up to optimised code in the first seconds
const scheduler = new Scheduler({ logger: silentLogger });
const fires: Array<{ at: number; lateness: number }> = [];
scheduler.task('tick', (ctx) => {
  const now = preciseNow();
  fires.push({ at: now, lateness: now - (ctx.fireTime as Date).getTime() });
});
await scheduler.addSchedule('tick', interval({ milliseconds: 100 }), { id: 'every-100ms' });
const startedAt = preciseNow();
await scheduler.start();
await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS + SECONDS * 1000));
await scheduler.stop();

const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    fires: sorted.length,
    latenessP50Ms: round(percentile(sorted, 50), 3),
    latenessP99Ms: round(percentile(sorted, 99), 3),
    latenessMaxMs: round(sorted.at(-1) as number, 3),
  };
};
console.log(
  JSON.stringify({
    measured: summary(fires.filter((fire) => fire.at - startedAt >= WARM_UP_MS).map((fire) => fire.lateness)),
    includingWarmUp: summary(fires.map((fire) => fire.lateness)),
  }),
);
