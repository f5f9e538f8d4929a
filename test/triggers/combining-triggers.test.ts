import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../src/errors.ts';
import { and, cron, date, interval, or, triggerFromJSON } from '../../src/triggers/index.ts';
import { firesUtc } from './fire-helpers.ts';

describe('AndTrigger', () => {
  it('fires when all children fire at the same instant', () => {
    const trigger = and([cron('0 * * * *', { timezone: 'UTC' }), interval({ hours: 3 })]);
    expect(firesUtc(trigger, '2027-01-01T00:30:00Z', 3)).toEqual([
      '2027-01-01T03:00:00Z',
      '2027-01-01T06:00:00Z',
      '2027-01-01T09:00:00Z',
    ]);
  });

  it('finds meetings far apart (Friday the 13th at noon)', () => {
    const trigger = and([cron('0 12 13 * *', { timezone: 'UTC' }), cron('0 12 * * fri', { timezone: 'UTC' })]);
    expect(firesUtc(trigger, '2027-01-01T00:00:00Z', 2)).toEqual(['2027-08-13T12:00:00Z', '2028-10-13T12:00:00Z']);
  });

  it('returns null when a child ends or the iteration cap is hit', () => {
    const ended = and([cron('* * * * *', { timezone: 'UTC' }), date('2027-01-01T00:00:00Z')]);
    expect(firesUtc(ended, '2027-01-01T00:00:00Z', 3)).toEqual(['2027-01-01T00:00:00Z']);
    const never = and([cron('0 9 * * *', { timezone: 'UTC' }), cron('0 10 * * *', { timezone: 'UTC' })]);
    expect(never.next(new Date('2027-01-01T00:00:00Z'))).toBeNull();
  });
});

describe('OrTrigger', () => {
  it('fires at the earliest child time, once per instant', () => {
    const trigger = or([cron('0 9 * * *', { timezone: 'UTC' }), cron('0 9,10 * * *', { timezone: 'UTC' })]);
    expect(firesUtc(trigger, '2027-01-01T00:00:00Z', 3)).toEqual([
      '2027-01-01T09:00:00Z',
      '2027-01-01T10:00:00Z',
      '2027-01-02T09:00:00Z',
    ]);
  });

  it('ends when all children end', () => {
    const trigger = or([date('2027-01-02T00:00:00Z'), date('2027-01-01T00:00:00Z')]);
    expect(firesUtc(trigger, '2026-01-01T00:00:00Z', 5)).toEqual(['2027-01-01T00:00:00Z', '2027-01-02T00:00:00Z']);
  });
});

describe('combining triggers', () => {
  it('pass the default zone down to children without one', () => {
    const trigger = or([cron('0 9 * * *'), cron('0 9 * * *', { timezone: 'UTC' })], { jitter: 3 });
    const zoned = trigger.withDefaultTimezone('Asia/Kathmandu');
    expect(zoned.toJSON()).toEqual({
      type: 'or',
      jitter: 3,
      triggers: [
        { type: 'cron', expression: '0 9 * * *', timezone: 'Asia/Kathmandu' },
        { type: 'cron', expression: '0 9 * * *', timezone: 'UTC' },
      ],
    });
    expect(zoned.withDefaultTimezone('UTC')).toBe(zoned);
    expect(zoned.jitterMs).toBe(3000);
  });

  it('describe themselves through their children', () => {
    const trigger = and([cron('0 9 * * *', { timezone: 'UTC' }), interval({ hours: 3 })]);
    expect(trigger.describe()).toBe('When all of these fire at the same time: At 09:00 (UTC); Every 3 hours');
    expect(or([interval({ minutes: 5 })]).describe()).toBe('Whenever any of these fires: Every 5 minutes');
  });

  it('round-trip nested JSON', () => {
    const json = {
      type: 'or',
      triggers: [
        {
          type: 'and',
          triggers: [
            { type: 'cron', expression: '0 * * * *', timezone: 'UTC' },
            { type: 'interval', hours: 2 },
          ],
        },
        { type: 'date', runDate: '2027-01-01T00:00:00Z' },
      ],
    };
    expect(triggerFromJSON(json).toJSON()).toEqual(json);
  });

  it.each([
    [() => and([]), 'and: [] must be an array of 1 to 100 triggers'],
    [() => or([{} as never]), 'or "triggers"[0]: {} is not a trigger'],
    [() => or('x' as never), 'or: "x" must be an array'],
    [() => and([interval({ hours: 1 })], { jitter: -2 }), 'and "jitter": -2 must be'],
    [() => triggerFromJSON({ type: 'and', triggers: [{ type: 'bogus' }] }), 'trigger "type": "bogus" must be one of'],
  ])('reject bad input (%#)', (attempt, message) => {
    expect(attempt).toThrow(TriggerError);
    expect(attempt).toThrow(message);
  });
});
