import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { and, calendarInterval, cron, interval, or, type Trigger, triggerFromJSON } from '../../src/triggers/index.ts';
import { cronExpression, instant, zone } from './trigger-arbitraries.ts';

/** Collects up to `count` successive fire times after `from`. */
function walk(trigger: Trigger, from: Date, count: number): number[] {
  const times: number[] = [];
  let after = from;
  for (let index = 0; index < count; index++) {
    const fire = trigger.next(after);
    if (fire === null) break;
    times.push(fire.getTime());
    after = fire;
  }
  return times;
}

const DAY = 86_400_000;

const anyTrigger = fc.oneof(
  fc.tuple(cronExpression, zone).map(([expression, timezone]) => cron(expression, { timezone })),
  fc
    .tuple(fc.integer({ min: 1, max: 3 * DAY }), instant)
    .map(([milliseconds, startDate]) => interval({ milliseconds, startDate })),
  fc
    .tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 14 }),
      fc.integer({ min: 0, max: 23 }),
      zone,
      instant,
    )
    .map(([months, days, hour, timezone, startDate]) =>
      calendarInterval({
        months,
        days: months === 0 && days === 0 ? 1 : days,
        hour,
        minute: 30,
        timezone,
        startDate,
      }),
    ),
);

describe('trigger properties', () => {
  it('fire times strictly increase and are strictly after `after`', () => {
    fc.assert(
      fc.property(anyTrigger, instant, (trigger, from) => {
        const times = walk(trigger, from, 12);
        let previous = from.getTime();
        for (const time of times) {
          expect(time).toBeGreaterThan(previous);
          previous = time;
        }
      }),
      { seed: 31, numRuns: 400 },
    );
  });

  it('honour inclusive startDate and endDate', () => {
    fc.assert(
      fc.property(
        cronExpression,
        zone,
        instant,
        fc.integer({ min: 0, max: 60 * DAY }),
        (expression, timezone, start, span) => {
          const end = new Date(start.getTime() + span);
          const trigger = cron(expression, { timezone, startDate: start, endDate: end });
          const times = walk(trigger, new Date(start.getTime() - 30 * DAY), 20);
          for (const time of times) {
            expect(time).toBeGreaterThanOrEqual(start.getTime());
            expect(time).toBeLessThanOrEqual(end.getTime());
          }
        },
      ),
      { seed: 32, numRuns: 300 },
    );
  });

  it('combinations agree with their children', () => {
    fc.assert(
      fc.property(anyTrigger, anyTrigger, instant, (a, b, from) => {
        const either = or([a, b]).next(from);
        const nextA = a.next(from);
        const nextB = b.next(from);
        const expected = [nextA, nextB].filter((time) => time !== null).map((time) => time.getTime());
        expect(either?.getTime() ?? null).toBe(expected.length > 0 ? Math.min(...expected) : null);
        const both = and([a, b]).next(from);
        if (both !== null) {
          const before = new Date(both.getTime() - 1);
          expect(a.next(before)?.getTime()).toBe(both.getTime());
          expect(b.next(before)?.getTime()).toBe(both.getTime());
        }
      }),
      { seed: 33, numRuns: 150 },
    );
  });

  it('round-trip through JSON without changing a fire time', () => {
    fc.assert(
      fc.property(anyTrigger, instant, (trigger, from) => {
        const copy = triggerFromJSON(JSON.parse(JSON.stringify(trigger.toJSON())));
        expect(copy.toJSON()).toEqual(trigger.toJSON());
        expect(walk(copy, from, 6)).toEqual(walk(trigger, from, 6));
      }),
      { seed: 34, numRuns: 300 },
    );
  });

  it('never hang: any next() returns (a date or null)', () => {
    const field = (min: number, max: number) =>
      fc.oneof(fc.constant('*'), fc.integer({ min, max }).map(String), fc.constantFrom('L', 'LW', '5L', '31W'));
    fc.assert(
      fc.property(
        field(1, 31),
        field(1, 12),
        fc.oneof(field(0, 7), fc.constantFrom('+1', '+5L', '0#5')),
        fc.integer({ min: 1970, max: 9999 }),
        instant,
        (dom, month, dow, year, from) => {
          const text = `0 0 0 ${dom} ${month} ${dow} ${year}`;
          let trigger: Trigger;
          try {
            trigger = cron(text, { timezone: 'Pacific/Chatham' });
          } catch {
            return; // invalid combinations (L in the wrong field) are not the point here
          }
          const fire = trigger.next(from);
          expect(fire === null || fire.getTime() > from.getTime()).toBe(true);
        },
      ),
      { seed: 35, numRuns: 500 },
    );
  });
});
