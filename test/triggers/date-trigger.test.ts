import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../src/errors.ts';
import { date, triggerFromJSON } from '../../src/triggers/index.ts';

describe('DateTrigger', () => {
  it('fires once, strictly after `after`', () => {
    const trigger = date('2027-01-01T09:00:00+01:00');
    expect(trigger.next(new Date('2026-12-31T00:00:00Z'))?.toISOString()).toBe('2027-01-01T08:00:00.000Z');
    expect(trigger.next(new Date('2027-01-01T07:59:59.999Z'))?.toISOString()).toBe('2027-01-01T08:00:00.000Z');
    expect(trigger.next(new Date('2027-01-01T08:00:00Z'))).toBeNull();
  });

  it('reads a run date without offset in its zone, with the DST rule', () => {
    const gap = date({ runDate: '2027-03-28T02:30:00', timezone: 'Europe/Berlin' });
    expect(gap.next(new Date(0))?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
    const repeated = date({ runDate: '2027-10-31T02:30:00', timezone: 'Europe/Berlin' });
    expect(repeated.next(new Date(0))?.toISOString()).toBe('2027-10-31T00:30:00.000Z');
  });

  it('accepts a Date and stores it as a UTC ISO string', () => {
    expect(date(new Date(Date.UTC(2027, 0, 1))).toJSON()).toEqual({
      type: 'date',
      runDate: '2027-01-01T00:00:00.000Z',
    });
  });

  it('describes itself in its zone', () => {
    const trigger = date({ runDate: '2027-01-01T09:00:00', timezone: 'Europe/Berlin' });
    expect(trigger.describe()).toBe('Once, at 2027-01-01T09:00:00+01:00 (Europe/Berlin)');
  });

  it('takes the default zone only when it has none', () => {
    const trigger = date('2027-01-01T09:00:00').withDefaultTimezone('Asia/Kathmandu');
    expect(trigger.next(new Date(0))?.toISOString()).toBe('2027-01-01T03:15:00.000Z');
    expect(trigger.withDefaultTimezone('UTC')).toBe(trigger);
  });

  it.each([
    [{ type: 'date' }, 'date "runDate": undefined is required'],
    [{ type: 'date', runDate: 'next tuesday' }, 'date "runDate": "next tuesday" is not an ISO-8601 date'],
    [
      { type: 'date', runDate: '2027-01-01', startDate: '2027-01-01' },
      'date "startDate": "2027-01-01" is not a key of date triggers',
    ],
    [{ type: 'date', runDate: 20270101 }, 'is not an ISO-8601 date'],
  ])('rejects %j', (json, message) => {
    expect(() => triggerFromJSON(json)).toThrow(TriggerError);
    expect(() => triggerFromJSON(json)).toThrow(message);
  });
});
