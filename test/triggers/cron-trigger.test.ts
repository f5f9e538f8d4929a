import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../src/errors.ts';
import { cron, triggerFromJSON } from '../../src/triggers/index.ts';
import { firesIn, firesUtc } from './fire-helpers.ts';

/**
 * DESIGN §3: every matching wall time fires once; one in a DST gap fires at the first instant
 * after the gap (several collapse into one fire); one that occurs twice fires at its first
 * occurrence only, so nothing fires during the second pass of a repeated hour.
 */
describe('cron DST rule', () => {
  const zoned = (expression: string, zone: string, from: string, count: number) =>
    firesIn(cron(expression, { timezone: zone }), zone, from, count);

  it.each([
    // Europe/Berlin: 2027-03-28 02:00 -> 03:00, 2027-10-31 03:00 -> 02:00.
    [
      'Europe/Berlin',
      '30 2 * * *',
      '2027-03-27T00:00:00Z',
      ['2027-03-27T02:30:00+01:00', '2027-03-28T03:00:00+02:00', '2027-03-29T02:30:00+02:00'],
    ],
    [
      'Europe/Berlin',
      '*/15 2 * * *',
      '2027-03-27T23:00:00Z',
      ['2027-03-28T03:00:00+02:00', '2027-03-29T02:00:00+02:00', '2027-03-29T02:15:00+02:00'],
    ],
    [
      'Europe/Berlin',
      '0 * * * *',
      '2027-03-27T23:30:00Z',
      ['2027-03-28T01:00:00+01:00', '2027-03-28T03:00:00+02:00', '2027-03-28T04:00:00+02:00'],
    ],
    [
      'Europe/Berlin',
      '30 2 * * *',
      '2027-10-30T00:00:00Z',
      ['2027-10-30T02:30:00+02:00', '2027-10-31T02:30:00+02:00', '2027-11-01T02:30:00+01:00'],
    ],
    [
      'Europe/Berlin',
      '*/30 * * * *',
      '2027-10-30T23:00:00Z',
      [
        '2027-10-31T01:00:00+02:00',
        '2027-10-31T01:30:00+02:00',
        '2027-10-31T02:00:00+02:00',
        '2027-10-31T02:30:00+02:00',
        '2027-10-31T03:00:00+01:00',
        '2027-10-31T03:30:00+01:00',
      ],
    ],
    // Asked during the second pass: its wall times already fired.
    [
      'Europe/Berlin',
      '*/30 * * * *',
      '2027-10-31T01:10:00Z',
      ['2027-10-31T03:00:00+01:00', '2027-10-31T03:30:00+01:00'],
    ],
    // America/New_York: 2027-03-14 02:00 -> 03:00, 2027-11-07 02:00 -> 01:00.
    [
      'America/New_York',
      '30 2 * * *',
      '2027-03-13T00:00:00-05:00',
      ['2027-03-13T02:30:00-05:00', '2027-03-14T03:00:00-04:00', '2027-03-15T02:30:00-04:00'],
    ],
    [
      'America/New_York',
      '30 1 * * *',
      '2027-11-06T00:00:00-04:00',
      ['2027-11-06T01:30:00-04:00', '2027-11-07T01:30:00-04:00', '2027-11-08T01:30:00-05:00'],
    ],
    [
      'America/New_York',
      '0 * * * *',
      '2027-11-07T00:00:00-04:00',
      [
        '2027-11-07T00:00:00-04:00',
        '2027-11-07T01:00:00-04:00',
        '2027-11-07T02:00:00-05:00',
        '2027-11-07T03:00:00-05:00',
      ],
    ],
    // Australia/Lord_Howe shifts by 30 minutes: 2027-10-03 02:00 -> 02:30, 2027-04-04 02:00 -> 01:30.
    [
      'Australia/Lord_Howe',
      '15 2 * * *',
      '2027-10-02T00:00:00+10:30',
      ['2027-10-02T02:15:00+10:30', '2027-10-03T02:30:00+11:00', '2027-10-04T02:15:00+11:00'],
    ],
    [
      'Australia/Lord_Howe',
      '*/10 2 * * *',
      '2027-10-03T01:55:00+10:30',
      ['2027-10-03T02:30:00+11:00', '2027-10-03T02:40:00+11:00', '2027-10-03T02:50:00+11:00'],
    ],
    [
      'Australia/Lord_Howe',
      '*/15 * * * *',
      '2027-04-04T01:00:00+11:00',
      [
        '2027-04-04T01:00:00+11:00',
        '2027-04-04T01:15:00+11:00',
        '2027-04-04T01:30:00+11:00',
        '2027-04-04T01:45:00+11:00',
        '2027-04-04T02:00:00+10:30',
        '2027-04-04T02:15:00+10:30',
      ],
    ],
    // Pacific/Chatham (+12:45/+13:45): 2027-09-26 02:45 -> 03:45, 2027-04-04 03:45 -> 02:45.
    [
      'Pacific/Chatham',
      '0 3 * * *',
      '2027-09-25T00:00:00+12:45',
      ['2027-09-25T03:00:00+12:45', '2027-09-26T03:45:00+13:45', '2027-09-27T03:00:00+13:45'],
    ],
    [
      'Pacific/Chatham',
      '0 3 * * *',
      '2027-04-03T00:00:00+13:45',
      ['2027-04-03T03:00:00+13:45', '2027-04-04T03:00:00+13:45', '2027-04-05T03:00:00+12:45'],
    ],
    [
      'Pacific/Chatham',
      '*/30 * * * *',
      '2027-04-04T02:00:00+13:45',
      [
        '2027-04-04T02:00:00+13:45',
        '2027-04-04T02:30:00+13:45',
        '2027-04-04T03:00:00+13:45',
        '2027-04-04T03:30:00+13:45',
        '2027-04-04T04:00:00+12:45',
      ],
    ],
    // Asia/Kathmandu: +05:45 all year.
    ['Asia/Kathmandu', '0 9 * * *', '2027-01-01T00:00:00Z', ['2027-01-01T09:00:00+05:45', '2027-01-02T09:00:00+05:45']],
    // Berlin's switch from local mean time (+00:53:28) to CET on 1893-04-01 skipped 6 min 32 s.
    [
      'Europe/Berlin',
      '*/5 * * * *',
      '1893-03-31T22:50:00Z',
      [
        '1893-03-31T23:45:00+00:53:28',
        '1893-03-31T23:50:00+00:53:28',
        '1893-03-31T23:55:00+00:53:28',
        '1893-04-01T00:06:32+01:00',
        '1893-04-01T00:10:00+01:00',
      ],
    ],
  ])('%s %s from %s', (zone, expression, from, expected) => {
    expect(zoned(expression, zone, from, expected.length)).toEqual(expected);
  });

  it('applies the same rule to the field form', () => {
    const trigger = cron({ hour: 2, minute: 30 }, { timezone: 'Europe/Berlin' });
    expect(firesIn(trigger, 'Europe/Berlin', '2027-03-27T00:00:00Z', 2)).toEqual([
      '2027-03-27T02:30:00+01:00',
      '2027-03-28T03:00:00+02:00',
    ]);
  });
});

describe('CronTrigger', () => {
  it('honours inclusive startDate and endDate', () => {
    const trigger = cron('0 * * * *', {
      timezone: 'UTC',
      startDate: '2027-01-01T05:00:00Z',
      endDate: '2027-01-01T07:00:00Z',
    });
    expect(firesUtc(trigger, '2027-01-01T00:00:00Z', 10)).toEqual([
      '2027-01-01T05:00:00Z',
      '2027-01-01T06:00:00Z',
      '2027-01-01T07:00:00Z',
    ]);
  });

  it('reads dates without offset as wall-clock time in its zone', () => {
    const trigger = cron('0 * * * *', { timezone: 'Europe/Berlin', startDate: '2027-01-01T05:00' });
    expect(firesUtc(trigger, '2026-01-01T00:00:00Z', 1)).toEqual(['2027-01-01T04:00:00Z']);
  });

  it('accepts Date objects and stores them as UTC ISO strings', () => {
    const trigger = cron('0 * * * *', {
      timezone: 'UTC',
      startDate: new Date(Date.UTC(2027, 0, 1)),
    });
    expect(trigger.toJSON()).toEqual({
      type: 'cron',
      expression: '0 * * * *',
      timezone: 'UTC',
      startDate: '2027-01-01T00:00:00.000Z',
    });
  });

  it('is strictly after, at millisecond precision', () => {
    const trigger = cron('* * * * * *', { timezone: 'UTC' });
    expect(trigger.next(new Date('2027-01-01T00:00:00.000Z'))?.toISOString()).toBe('2027-01-01T00:00:01.000Z');
    expect(trigger.next(new Date('2027-01-01T00:00:00.999Z'))?.toISOString()).toBe('2027-01-01T00:00:01.000Z');
    expect(trigger.next(new Date('2027-01-01T00:00:01.000Z'))?.toISOString()).toBe('2027-01-01T00:00:02.000Z');
  });

  it.each(['0 0 30 2 *', '0 0 31 4,6,9,11 *', '0 0 30 2 +mon', '0 0 0 1 1 * 1990', '0 0 0 29 2 * 2100'])(
    'returns null quickly for the impossible %j',
    (expression) => {
      expect(cron(expression, { timezone: 'UTC' }).next(new Date('2027-01-01T00:00:00Z'))).toBeNull();
    },
  );

  it.each([
    { week: 53, month: 6 },
    { month: 2, day: 30 },
    { year: 2030, week: 53 },
  ])('returns null for the impossible fields %j', (fields) => {
    expect(cron(fields, { timezone: 'UTC' }).next(new Date('2027-01-01T00:00:00Z'))).toBeNull();
  });

  it('stops at the end of year 9999', () => {
    const trigger = cron('0 0 31 12 *', { timezone: 'UTC' });
    expect(trigger.next(new Date('9999-12-30T00:00:00Z'))?.toISOString()).toBe('9999-12-31T00:00:00.000Z');
    expect(trigger.next(new Date('9999-12-31T00:00:00Z'))).toBeNull();
  });

  it('fills in a default zone only when it has none', () => {
    const zoneless = cron('0 9 * * *');
    const berlin = zoneless.withDefaultTimezone('Europe/Berlin');
    expect(berlin.toJSON()).toEqual({
      type: 'cron',
      expression: '0 9 * * *',
      timezone: 'Europe/Berlin',
    });
    expect(berlin.withDefaultTimezone('UTC')).toBe(berlin);
    expect(() => zoneless.withDefaultTimezone('Nowhere/Land')).toThrow(TriggerError);
  });

  it('reports jitter in milliseconds without applying it', () => {
    const trigger = cron('0 * * * *', { timezone: 'UTC', jitter: 2.5 });
    expect(trigger.jitterMs).toBe(2500);
    expect(firesUtc(trigger, '2027-01-01T00:00:00Z', 1)).toEqual(['2027-01-01T00:00:00Z']);
  });

  it('rejects bad common keys with the field named', () => {
    expect(() => cron('* * * * *', { timezone: 'Mars/Base' })).toThrow(/^cron "timezone": "Mars\/Base" is not an IANA/);
    expect(() => cron('* * * * *', { startDate: 'soon' })).toThrow(/^cron "startDate": "soon" is not an ISO-8601 date/);
    expect(() => cron('* * * * *', { jitter: -1 })).toThrow(/^cron "jitter": -1 must be/);
    expect(() => cron('* * * * *', { startDate: '2027-01-02T00:00:00Z', endDate: '2027-01-01T00:00:00Z' })).toThrow(
      /^cron "endDate": .* is before "startDate"/,
    );
    expect(() => cron(42 as unknown as string)).toThrow(TriggerError);
  });

  it('rejects an invalid `after`', () => {
    const trigger = cron('* * * * *', { timezone: 'UTC' });
    expect(() => trigger.next(new Date(Number.NaN))).toThrow(TriggerError);
    expect(() => trigger.next('2027-01-01' as unknown as Date)).toThrow(TriggerError);
  });

  it('round-trips its JSON exactly, in both forms', () => {
    for (const json of [
      { type: 'cron', expression: '0 9 * * mon-fri', timezone: 'Europe/Berlin', jitter: 5 },
      {
        type: 'cron',
        hour: 9,
        dayOfWeek: 'mon-fri',
        timezone: 'UTC',
        startDate: '2027-01-01',
        endDate: '2028-01-01T00:00:00Z',
      },
    ]) {
      const trigger = triggerFromJSON(json);
      expect(trigger.toJSON()).toEqual(json);
      expect(triggerFromJSON(trigger.toJSON()).toJSON()).toEqual(json);
    }
  });
});
