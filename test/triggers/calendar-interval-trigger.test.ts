import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../src/errors.ts';
import { calendarInterval, triggerFromJSON } from '../../src/triggers/index.ts';
import { firesIn, firesUtc } from './fire-helpers.ts';

describe('CalendarIntervalTrigger', () => {
  it('skips months that lack the day', () => {
    const trigger = calendarInterval({ months: 1, day: 31, hour: 9, timezone: 'UTC' });
    expect(firesUtc(trigger, '2027-01-01T00:00:00Z', 5)).toEqual([
      '2027-01-31T09:00:00Z',
      '2027-03-31T09:00:00Z',
      '2027-05-31T09:00:00Z',
      '2027-07-31T09:00:00Z',
      '2027-08-31T09:00:00Z',
    ]);
  });

  it('is anchored on 1970-01-01 without a startDate', () => {
    expect(firesUtc(calendarInterval({ months: 1, timezone: 'UTC' }), '2027-01-15T00:00:00Z', 2)).toEqual([
      '2027-02-01T00:00:00Z',
      '2027-03-01T00:00:00Z',
    ]);
    // 1970-01-01 + 3-day steps: 2027-01-01 is day 20819 = 3 * 6939 + 2, so day 20820 is next.
    expect(firesUtc(calendarInterval({ days: 3, timezone: 'UTC' }), '2027-01-01T00:00:00Z', 1)).toEqual([
      '2027-01-02T00:00:00Z',
    ]);
  });

  it('counts from the start date and honours its time of day', () => {
    const biweekly = calendarInterval({
      weeks: 2,
      hour: 9,
      startDate: '2027-01-04',
      timezone: 'UTC',
    });
    expect(firesUtc(biweekly, '2026-01-01T00:00:00Z', 3)).toEqual([
      '2027-01-04T09:00:00Z',
      '2027-01-18T09:00:00Z',
      '2027-02-01T09:00:00Z',
    ]);
    const daily = calendarInterval({
      days: 1,
      hour: 9,
      startDate: '2027-01-01T10:00:00',
      timezone: 'UTC',
    });
    expect(firesUtc(daily, '2026-01-01T00:00:00Z', 1)).toEqual(['2027-01-02T09:00:00Z']);
  });

  it('fires on February 29th only in leap years', () => {
    const trigger = calendarInterval({ years: 1, startDate: '2028-02-29', timezone: 'UTC' });
    expect(firesUtc(trigger, '2028-01-01T00:00:00Z', 3)).toEqual([
      '2028-02-29T00:00:00Z',
      '2032-02-29T00:00:00Z',
      '2036-02-29T00:00:00Z',
    ]);
  });

  it('returns null when the day never exists', () => {
    const trigger = calendarInterval({
      years: 1,
      day: 30,
      startDate: '2027-02-01',
      timezone: 'UTC',
    });
    expect(trigger.next(new Date('2027-01-01T00:00:00Z'))).toBeNull();
  });

  it('includes endDate', () => {
    const trigger = calendarInterval({ days: 1, timezone: 'UTC', endDate: '2027-01-03T00:00:00Z' });
    expect(firesUtc(trigger, '2027-01-01T00:00:00Z', 5)).toEqual([
      '2027-01-01T00:00:00Z',
      '2027-01-02T00:00:00Z',
      '2027-01-03T00:00:00Z',
    ]);
  });

  it.each([
    [
      'Europe/Berlin',
      { hour: 2, minute: 30 },
      '2027-03-27T00:00:00Z',
      ['2027-03-27T02:30:00+01:00', '2027-03-28T03:00:00+02:00', '2027-03-29T02:30:00+02:00'],
    ],
    [
      'Europe/Berlin',
      { hour: 2, minute: 30 },
      '2027-10-30T00:00:00Z',
      ['2027-10-30T02:30:00+02:00', '2027-10-31T02:30:00+02:00', '2027-11-01T02:30:00+01:00'],
    ],
    [
      'America/New_York',
      { hour: 1, minute: 30 },
      '2027-11-06T00:00:00Z',
      ['2027-11-06T01:30:00-04:00', '2027-11-07T01:30:00-04:00', '2027-11-08T01:30:00-05:00'],
    ],
    [
      'Australia/Lord_Howe',
      { hour: 2, minute: 10 },
      '2027-10-01T12:00:00Z',
      ['2027-10-02T02:10:00+10:30', '2027-10-03T02:30:00+11:00', '2027-10-04T02:10:00+11:00'],
    ],
    [
      'Pacific/Chatham',
      { hour: 2, minute: 50 },
      '2027-09-24T12:00:00Z',
      ['2027-09-25T02:50:00+12:45', '2027-09-26T03:45:00+13:45', '2027-09-27T02:50:00+13:45'],
    ],
  ])('applies the DST rule in %s', (zone, time, from, expected) => {
    const trigger = calendarInterval({ days: 1, ...time, timezone: zone });
    expect(firesIn(trigger, zone, from, 3)).toEqual(expected);
  });

  it.each([
    [{}, 'needs at least one of years, months, weeks or days above 0'],
    [{ days: 1, day: 5 }, 'calendarInterval "day": 5 only applies to intervals of years or months'],
    [{ months: 1, hour: 24 }, 'calendarInterval "hour": 24 must be an integer from 0 to 23'],
    [{ months: 1.5 }, 'calendarInterval "months": 1.5 must be an integer'],
    [{ months: 1, day: 32 }, 'calendarInterval "day": 32 must be an integer from 1 to 31'],
  ])('rejects %j', (options, message) => {
    expect(() => calendarInterval(options)).toThrow(TriggerError);
    expect(() => calendarInterval(options)).toThrow(message);
  });

  it('describes itself and round-trips its JSON', () => {
    const json = { type: 'calendarInterval', months: 1, day: 1, hour: 9, timezone: 'Europe/Paris' };
    const trigger = triggerFromJSON(json);
    expect(trigger.toJSON()).toEqual(json);
    expect(trigger.describe()).toBe('Every month on day 1 of the month at 09:00 (Europe/Paris)');
    expect(calendarInterval({ weeks: 2, hour: 8, minute: 5, second: 30, timezone: 'UTC' }).describe()).toBe(
      'Every 2 weeks at 08:05:30 (UTC)',
    );
  });
});
