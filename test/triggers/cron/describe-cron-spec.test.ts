import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CronFields, cron } from '../../../src/triggers/index.ts';

describe('cron describe()', () => {
  it.each<[string | CronFields, string]>([
    ['0 0 * * mon-fri', 'At 00:00, Monday through Friday (Europe/Berlin)'],
    ['*/5 * * * *', 'Every 5 minutes (Europe/Berlin)'],
    ['0 */2 * * *', 'At minute 0 past every 2nd hour (Europe/Berlin)'],
    ['* * * * *', 'Every minute (Europe/Berlin)'],
    ['*/10 * * * * *', 'Every 10 seconds (Europe/Berlin)'],
    ['30 9 * * *', 'At 09:30 (Europe/Berlin)'],
    ['0 9,17 * * *', 'At 09:00 and 17:00 (Europe/Berlin)'],
    ['15 10 9 * * *', 'At 09:10:15 (Europe/Berlin)'],
    ['*/15 9-17 * * *', 'Every 15 minutes, between 09:00 and 17:59 (Europe/Berlin)'],
    ['0,30 * * * *', 'Every 30 minutes (Europe/Berlin)'],
    ['0,20 * * * *', 'At minutes 0 and 20 past every hour (Europe/Berlin)'],
    ['0 0 1 * *', 'At 00:00, on day 1 of the month (Europe/Berlin)'],
    ['0 0 1,15 * *', 'At 00:00, on days 1 and 15 of the month (Europe/Berlin)'],
    ['0 0 L * *', 'At 00:00, on the last day of the month (Europe/Berlin)'],
    ['0 0 L-2 * *', 'At 00:00, on the 3rd-to-last day of the month (Europe/Berlin)'],
    ['0 0 15W * *', 'At 00:00, on the weekday nearest day 15 of the month (Europe/Berlin)'],
    ['0 0 LW * *', 'At 00:00, on the last weekday of the month (Europe/Berlin)'],
    ['0 12 * * FRI#L', 'At 12:00, on the last Friday of the month (Europe/Berlin)'],
    ['0 12 * * 1#2', 'At 12:00, on the second Monday of the month (Europe/Berlin)'],
    ['0 12 1-7 * fri', 'At 12:00, on days 1 through 7 of the month or on Friday (Europe/Berlin)'],
    ['0 12 1-7 * +fri', 'At 12:00, on days 1 through 7 of the month, only on Friday (Europe/Berlin)'],
    ['0 0 * * sat,sun', 'At 00:00, on Saturday and Sunday (Europe/Berlin)'],
    ['0 0 1 jan-mar *', 'At 00:00, on day 1 of the month, in January through March (Europe/Berlin)'],
    ['0 0 0 1 1 * 2030', 'At 00:00, on day 1 of the month, in January, in year 2030 (Europe/Berlin)'],
    ['@yearly', 'At 00:00, on day 1 of the month, in January (Europe/Berlin)'],
    // Both forms compile to the same representation and read the same.
    [{ hour: 0, dayOfWeek: 'mon-fri' }, 'At 00:00, Monday through Friday (Europe/Berlin)'],
    [{ dayOfWeek: '0-4' }, 'At 00:00, Monday through Friday (Europe/Berlin)'],
    [{ day: '3rd mon', hour: 9 }, 'At 09:00, on the third Monday of the month (Europe/Berlin)'],
    [{ day: 'last' }, 'At 00:00, on the last day of the month (Europe/Berlin)'],
    [{ week: '*/2', dayOfWeek: 'mon' }, 'At 00:00, on Monday, in every 2nd ISO week (Europe/Berlin)'],
  ])('%j', (input, sentence) => {
    expect(cron(input, { timezone: 'Europe/Berlin' }).describe()).toBe(sentence);
  });

  it('names start and end dates', () => {
    const trigger = cron('0 9 * * *', {
      timezone: 'UTC',
      startDate: '2027-01-01',
      endDate: '2027-06-30',
    });
    expect(trigger.describe()).toBe('At 09:00 (UTC), from 2027-01-01, until 2027-06-30');
  });

  it('names the local zone when the trigger has none', () => {
    expect(cron('0 9 * * *').describe()).toMatch(/^At 09:00 \(.+\)$/);
  });

  it('never throws and always names the zone', () => {
    const field = fc.constantFrom('*', '0', '*/7', '1-5', '3,4,9', '2-20/3');
    fc.assert(
      fc.property(
        field,
        field,
        field,
        fc.constantFrom('*', '?', 'L', '1-7', '15W', 'LW', '*/2'),
        fc.constantFrom('*', '?', 'mon-fri', '5L', '1#3', '+sat'),
        (s, m, h, dom, dow) => {
          const text = cron(`${s} ${m} ${h} ${dom} * ${dow}`, {
            timezone: 'Asia/Kathmandu',
          }).describe();
          expect(text.endsWith('(Asia/Kathmandu)')).toBe(true);
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });
});
