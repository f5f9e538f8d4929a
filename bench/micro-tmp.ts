import { cron, interval, MemoryStore, Scheduler, silentLogger } from 'kairos';
import { LocalEventBroker } from '../src/events/local-event-broker.ts';
import { newSchedule, toTrigger } from '../src/scheduler/schedule-input.ts';
import { systemClock } from '../src/time/clock.ts';

const N = 200_000;
const EXPR = ['*/5 * * * *', '0 9 * * mon-fri', '30 2 * * *', '0 */6 * * *'];
const mk = (i: number) => (i % 2 === 0 ? cron(EXPR[(i >> 1) % 4] as string) : interval({ minutes: 1 + (i % 60) }));
async function time(label: string, fn: (i: number) => unknown, isAsync = false) {
  for (let i = 0; i < 50_000; i++) isAsync ? await fn(i + 10_000_000) : fn(i + 10_000_000);
  const t = performance.now();
  for (let i = 0; i < N; i++) isAsync ? await fn(i) : fn(i);
  console.log(label.padEnd(34), (((performance.now() - t) * 1000) / N).toFixed(3), 'µs');
}
const defaults = { misfireGraceTime: 60000, coalesce: 'latest' as const, maxInstances: 1 };
await time('make trigger', mk);
await time('+ toTrigger', (i) => toTrigger(mk(i), 'UTC'));
await time('+ newSchedule', (i) => newSchedule('t', toTrigger(mk(i), 'UTC'), { id: `s${i}` }, defaults, Date.now()));
const store = new MemoryStore();
await store.start({ events: new LocalEventBroker(), clock: systemClock, logger: silentLogger });
await time(
  '+ store.addSchedule',
  (i) => store.addSchedule(newSchedule('t', toTrigger(mk(i), 'UTC'), { id: `s${i}` }, defaults, Date.now()), 'replace'),
  true,
);
const s = new Scheduler({ logger: silentLogger, timezone: 'UTC' });
s.task('t', () => {});
await s.start();
await time('scheduler.addSchedule', (i) => s.addSchedule('t', mk(i), { id: `s${i}` }), true);
await s.stop();
