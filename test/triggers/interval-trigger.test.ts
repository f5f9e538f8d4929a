import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../src/errors.ts';
import { interval, triggerFromJSON } from '../../src/triggers/index.ts';
import { firesIn, firesUtc } from './fire-helpers.ts';

describe('IntervalTrigger', () => {
  it('is anchored at the Unix epoch without a startDate', () => {
    expect(firesUtc(interval({ minutes: 5 }), '2027-01-01T00:02:00Z', 3)).toEqual([
      '2027-01-01T00:05:00Z',
      '2027-01-01T00:10:00Z',
      '2027-01-01T00:15:00Z',
    ]);
    const period = 7 * 3_600_000;
    const from = Date.UTC(2027, 0, 1);
    const first = interval({ hours: 7 }).next(new Date(from));
    expect(first?.getTime()).toBe(Math.ceil(from / period) * period);
  });

  it('fires at startDate + k * period, startDate included', () => {
    const trigger = interval({ seconds: 45, startDate: '2027-01-01T00:00:30Z' });
    expect(firesUtc(trigger, '2026-12-31T00:00:00Z', 3)).toEqual([
      '2027-01-01T00:00:30Z',
      '2027-01-01T00:01:15Z',
      '2027-01-01T00:02:00Z',
    ]);
    expect(firesUtc(trigger, '2027-01-01T00:01:00Z', 1)).toEqual(['2027-01-01T00:01:15Z']);
  });

  it('includes endDate', () => {
    const trigger = interval({
      hours: 1,
      startDate: '2027-01-01T00:00:00Z',
      endDate: '2027-01-01T02:00:00Z',
    });
    expect(firesUtc(trigger, '2027-01-01T00:00:00Z', 10)).toEqual([
      '2027-01-01T00:00:00Z',
      '2027-01-01T01:00:00Z',
      '2027-01-01T02:00:00Z',
    ]);
  });

  it('counts exact elapsed time across DST changes', () => {
    const trigger = interval({
      hours: 24,
      startDate: '2027-03-27T12:00:00',
      timezone: 'Europe/Berlin',
    });
    expect(firesIn(trigger, 'Europe/Berlin', '2027-03-27T00:00:00Z', 2)).toEqual([
      '2027-03-27T12:00:00+01:00',
      '2027-03-28T13:00:00+02:00',
    ]);
  });

  it('adds up units and works at millisecond precision', () => {
    const trigger = interval({ seconds: 1, milliseconds: 500, startDate: '2027-01-01T00:00:00Z' });
    expect(trigger.periodMs).toBe(1500);
    expect(trigger.next(new Date('2027-01-01T00:00:01.499Z'))?.toISOString()).toBe('2027-01-01T00:00:01.500Z');
    expect(interval({ weeks: 1, days: 1 }).periodMs).toBe(8 * 86_400_000);
  });

  it.each([
    [{}, 'must have a period'],
    [{ minutes: 0 }, 'must have a period'],
    [{ minutes: -1 }, 'interval "minutes": -1 must be a finite number >= 0'],
    [{ minutes: '5' }, 'interval "minutes": "5" must be a finite number >= 0'],
    [{ milliseconds: 0.5 }, 'must have a period of a whole number of milliseconds'],
    [{ weeks: 1e9 }, 'at most 10,000 years'],
    [{ minutes: 5, every: 3 }, 'interval "every": 3 is not a key of interval triggers'],
  ])('rejects %j', (options, message) => {
    expect(() => interval(options as never)).toThrow(TriggerError);
    expect(() => interval(options as never)).toThrow(message);
  });

  it.each([
    [{ minutes: 5 }, 'Every 5 minutes'],
    [{ hours: 1 }, 'Every hour'],
    [{ hours: 1, minutes: 30 }, 'Every 1 hour and 30 minutes'],
    [{ days: 2, timezone: 'UTC', startDate: '2027-01-01' }, 'Every 2 days (UTC), from 2027-01-01'],
  ])('describes %j', (options, sentence) => {
    expect(interval(options).describe()).toBe(sentence);
  });

  it('round-trips its JSON', () => {
    const json = {
      type: 'interval',
      hours: 1,
      minutes: 30,
      startDate: '2027-01-01T00:00:00Z',
      jitter: 1,
    };
    expect(triggerFromJSON(json).toJSON()).toEqual(json);
    expect(triggerFromJSON(json).jitterMs).toBe(1000);
  });
});
