import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../../src/errors.ts';
import { type CronFields, cron, triggerFromJSON } from '../../../src/triggers/index.ts';
import { firesUtc } from '../fire-helpers.ts';

const utc = (fields: CronFields, from: string, count: number) =>
  firesUtc(cron(fields, { timezone: 'UTC' }), from, count);

/**
 * Field form against APScheduler's CronTrigger semantics, checked by hand against its
 * documentation and calendar arithmetic (2027-01-01 is a Friday).
 */
describe('cron field form (APScheduler semantics)', () => {
  it.each<[string, CronFields, string[]]>([
    // APScheduler docs: "Runs from Monday to Friday at 5:30 (am)".
    [
      'mon-fri at 5:30',
      { dayOfWeek: 'mon-fri', hour: 5, minute: 30 },
      ['2027-01-01T05:30:00Z', '2027-01-04T05:30:00Z', '2027-01-05T05:30:00Z'],
    ],
    // APScheduler docs: third Friday of Jun-Aug and Nov-Dec at 00:00, 01:00, 02:00 and 03:00.
    [
      '3rd fri of some months, hours 0-3',
      { month: '6-8,11-12', day: '3rd fri', hour: '0-3' },
      [
        '2027-06-18T00:00:00Z',
        '2027-06-18T01:00:00Z',
        '2027-06-18T02:00:00Z',
        '2027-06-18T03:00:00Z',
        '2027-07-16T00:00:00Z',
      ],
    ],
    // Less significant fields than the last given one take their minimum...
    ['month only', { month: 6 }, ['2027-06-01T00:00:00Z', '2028-06-01T00:00:00Z']],
    ['hour step', { hour: '*/6' }, ['2027-01-01T00:00:00Z', '2027-01-01T06:00:00Z', '2027-01-01T12:00:00Z']],
    // ...more significant ones are `*`.
    ['minute only', { minute: 30 }, ['2027-01-01T00:30:00Z', '2027-01-01T01:30:00Z']],
    ['second only', { second: 15 }, ['2027-01-01T00:00:15Z', '2027-01-01T00:01:15Z']],
    ['day 15 at 9', { day: 15, hour: 9 }, ['2027-01-15T09:00:00Z', '2027-02-15T09:00:00Z']],
    // week and dayOfWeek default to `*`: every day of ISO week 1 (2027-01-04 .. 2027-01-10).
    ['week 1', { week: 1 }, ['2027-01-04T00:00:00Z', '2027-01-05T00:00:00Z', '2027-01-06T00:00:00Z']],
    ['week 53 mondays', { week: 53, dayOfWeek: 'mon' }, ['2032-12-27T00:00:00Z', '2037-12-28T00:00:00Z']],
    // Day-of-week numbers count Monday as 0.
    ['dayOfWeek 0 is Monday', { dayOfWeek: 0 }, ['2027-01-04T00:00:00Z', '2027-01-11T00:00:00Z']],
    ['dayOfWeek 6 is Sunday', { dayOfWeek: '6' }, ['2027-01-03T00:00:00Z', '2027-01-10T00:00:00Z']],
    ['dayOfWeek 0-4 is mon-fri', { dayOfWeek: '0-4', hour: 8 }, ['2027-01-01T08:00:00Z', '2027-01-04T08:00:00Z']],
    // */2 over Monday-first numbers: Monday, Wednesday, Friday, Sunday.
    [
      'dayOfWeek */2',
      { dayOfWeek: '*/2' },
      ['2027-01-01T00:00:00Z', '2027-01-03T00:00:00Z', '2027-01-04T00:00:00Z', '2027-01-06T00:00:00Z'],
    ],
    [
      'names are case-insensitive',
      { dayOfWeek: 'SAT,Sun' },
      ['2027-01-02T00:00:00Z', '2027-01-03T00:00:00Z', '2027-01-09T00:00:00Z'],
    ],
    ['last day', { day: 'last' }, ['2027-01-31T00:00:00Z', '2027-02-28T00:00:00Z', '2027-03-31T00:00:00Z']],
    ['last fri', { day: 'last fri' }, ['2027-01-29T00:00:00Z', '2027-02-26T00:00:00Z']],
    [
      '1st mon and last fri',
      { day: '1st mon, last fri' },
      ['2027-01-04T00:00:00Z', '2027-01-29T00:00:00Z', '2027-02-01T00:00:00Z'],
    ],
    ['5th mon', { day: '5th mon' }, ['2027-03-29T00:00:00Z', '2027-05-31T00:00:00Z']],
    [
      'day step',
      { day: '*/10' },
      [
        '2027-01-01T00:00:00Z',
        '2027-01-11T00:00:00Z',
        '2027-01-21T00:00:00Z',
        '2027-01-31T00:00:00Z',
        '2027-02-01T00:00:00Z',
      ],
    ],
    // All fields AND: the 13th only when it is a Friday.
    ['day AND dayOfWeek', { day: 13, dayOfWeek: 'fri' }, ['2027-08-13T00:00:00Z', '2028-10-13T00:00:00Z']],
    ['leap day', { year: 2028, month: 2, day: 29 }, ['2028-02-29T00:00:00Z']],
    ['no leap day', { year: 2030, month: 2, day: 29 }, []],
    ['year step from 1970', { year: '*/10', month: 1, day: 1 }, ['2030-01-01T00:00:00Z', '2040-01-01T00:00:00Z']],
    ['month names', { month: 'jan,jul', day: 1 }, ['2027-01-01T00:00:00Z', '2027-07-01T00:00:00Z']],
  ])('%s', (_name, fields, expected) => {
    expect(utc(fields, '2027-01-01T00:00:00Z', Math.max(expected.length, 1))).toEqual(expected);
  });

  it.each<[CronFields, string]>([
    [{ hour: 24 }, 'cron field "hour": 24 is out of range 0-23'],
    [{ dayOfWeek: 7 }, 'cron field "dayOfWeek": 7 is out of range 0-6'],
    [{ week: 54 }, 'cron field "week": 54 is out of range 1-53'],
    [{ hour: 1.5 }, 'cron field "hour": 1.5 must be an integer'],
    [{ hour: true as unknown as string }, 'cron field "hour": true must be a string or a number'],
    [{ day: '3rd xyz' }, 'cron field "day": "3rd xyz" names no weekday'],
    [{ day: '' }, 'cron field "day": "" is empty'],
    [{ day: 'L' }, 'cron field "day": "L" is not valid'],
    [{ dayOfWeek: 'fri-mon' }, 'cron field "dayOfWeek": "fri-mon" is a range whose start is after its end'],
    [{}, 'needs an "expression" or at least one of the fields year, month, day, week, dayOfWeek, hour, minute, second'],
  ])('rejects %j', (fields, message) => {
    const attempt = () => cron(fields, { timezone: 'UTC' });
    expect(attempt).toThrow(TriggerError);
    expect(attempt).toThrow(message);
  });

  it('rejects unknown keys (typos must not pass silently)', () => {
    expect(() => triggerFromJSON({ type: 'cron', dayofweek: 'mon' })).toThrow(
      /cron "dayofweek": "mon" is not a key of cron triggers/,
    );
    expect(() => triggerFromJSON({ type: 'cron', expression: '* * * * *', hour: 1 })).toThrow(
      /cron "hour": 1 is not a key/,
    );
  });
});
