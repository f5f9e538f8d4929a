import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../src/errors.ts';
import { getTimeZone, localTimeZoneName } from '../../src/time/time-zone.ts';

/** The offset in minutes at an instant, computed independently of the code under test. */
function intlOffsetSeconds(zone: string, instant: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(instant);
  const get = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return (wall - Math.floor(instant / 1000) * 1000) / 1000;
}

const H = 3_600_000;
const M = 60_000;
const wall = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h, mi, s);

describe('TimeZone offsets', () => {
  it.each([
    ['Europe/Berlin', Date.UTC(2027, 0, 15), 1 * H],
    ['Europe/Berlin', Date.UTC(2027, 6, 15), 2 * H],
    ['America/New_York', Date.UTC(2027, 0, 15), -5 * H],
    ['America/New_York', Date.UTC(2027, 6, 15), -4 * H],
    ['Australia/Lord_Howe', Date.UTC(2027, 6, 15), 10.5 * H],
    ['Australia/Lord_Howe', Date.UTC(2027, 0, 15), 11 * H],
    ['Pacific/Chatham', Date.UTC(2027, 6, 15), 12 * H + 45 * M],
    ['Pacific/Chatham', Date.UTC(2027, 0, 15), 13 * H + 45 * M],
    ['Asia/Kathmandu', Date.UTC(2027, 0, 15), 5 * H + 45 * M],
    ['Asia/Kolkata', Date.UTC(2027, 0, 15), 5.5 * H],
    ['UTC', Date.UTC(2027, 0, 15), 0],
    ['Etc/GMT+5', Date.UTC(2027, 0, 15), -5 * H],
    ['+05:30', Date.UTC(2027, 0, 15), 5.5 * H],
    // Local mean time, to the second.
    ['Europe/Berlin', Date.UTC(1880, 0, 1), (53 * 60 + 28) * 1000],
    ['America/New_York', Date.UTC(1880, 0, 1), -(4 * 3600 + 56 * 60 + 2) * 1000],
  ])('%s at %d', (name, instant, offset) => {
    expect(getTimeZone(name).offsetAt(instant)).toBe(offset);
  });

  it('matches Intl at random instants in many zones, transitions included', () => {
    const zones = [
      'Europe/Berlin',
      'America/New_York',
      'Australia/Lord_Howe',
      'Pacific/Chatham',
      'Asia/Kathmandu',
      'America/Sao_Paulo',
      'Europe/Dublin',
      'Africa/Casablanca',
      'Pacific/Apia',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(1900, 0, 1) / 1000, max: Date.UTC(2040, 0, 1) / 1000 }),
        (name, seconds) => {
          const instant = seconds * 1000;
          expect(getTimeZone(name).offsetAt(instant) / 1000).toBe(intlOffsetSeconds(name, instant));
        },
      ),
      { seed: 7, numRuns: 1500 },
    );
  });

  it('matches Intl in the far future, where tables repeat every 400 years', () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/Santiago'];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(2040, 0, 1) / 1000, max: Date.UTC(9999, 11, 31) / 1000 }),
        (name, seconds) => {
          const instant = seconds * 1000;
          expect(getTimeZone(name).offsetAt(instant) / 1000).toBe(intlOffsetSeconds(name, instant));
        },
      ),
      { seed: 9, numRuns: 400 },
    );
  });

  it('finds every transition of a year to the second', () => {
    const zone = getTimeZone('America/New_York');
    // 2027-03-14 02:00 EST = 07:00Z; 2027-11-07 02:00 EDT = 06:00Z.
    expect(zone.offsetAt(Date.UTC(2027, 2, 14, 7) - 1000)).toBe(-5 * H);
    expect(zone.offsetAt(Date.UTC(2027, 2, 14, 7))).toBe(-4 * H);
    expect(zone.offsetAt(Date.UTC(2027, 10, 7, 6) - 1000)).toBe(-4 * H);
    expect(zone.offsetAt(Date.UTC(2027, 10, 7, 6))).toBe(-5 * H);
  });
});

describe('TimeZone.fromWallMs (DESIGN §3)', () => {
  it.each([
    // Gaps resolve to the transition instant.
    ['Europe/Berlin', wall(2027, 3, 28, 2, 30), Date.UTC(2027, 2, 28, 1)],
    ['Europe/Berlin', wall(2027, 3, 28, 2, 0), Date.UTC(2027, 2, 28, 1)],
    ['America/New_York', wall(2027, 3, 14, 2, 59, 59), Date.UTC(2027, 2, 14, 7)],
    ['Australia/Lord_Howe', wall(2027, 10, 3, 2, 15), Date.UTC(2027, 9, 2, 15, 30)],
    ['Pacific/Chatham', wall(2027, 9, 26, 3, 0), Date.UTC(2027, 8, 25, 14)],
    // Repeated wall times resolve to their first occurrence.
    ['Europe/Berlin', wall(2027, 10, 31, 2, 30), Date.UTC(2027, 9, 31, 0, 30)],
    ['America/New_York', wall(2027, 11, 7, 1, 30), Date.UTC(2027, 10, 7, 5, 30)],
    ['Australia/Lord_Howe', wall(2027, 4, 4, 1, 45), Date.UTC(2027, 3, 3, 14, 45)],
    ['Pacific/Chatham', wall(2027, 4, 4, 3, 0), Date.UTC(2027, 3, 3, 13, 15)],
    // Ordinary times.
    ['Europe/Berlin', wall(2027, 10, 31, 3, 0), Date.UTC(2027, 9, 31, 2)],
    ['Asia/Kathmandu', wall(2027, 1, 1, 0, 0), Date.UTC(2026, 11, 31, 18, 15)],
    ['UTC', wall(2027, 1, 1, 0, 0), Date.UTC(2027, 0, 1)],
  ])('%s', (name, wallMs, instant) => {
    expect(getTimeZone(name).fromWallMs(wallMs)).toBe(instant);
  });

  it('round-trips every instant that is not in a repeated stretch', () => {
    const zone = getTimeZone('Europe/Berlin');
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }), (instant) => {
        const wallMs = zone.toWallMs(instant);
        const resolved = zone.fromWallMs(wallMs);
        // Either the same instant, or (second pass of a repeated hour) exactly one hour earlier.
        expect([instant, instant - H]).toContain(resolved);
      }),
      { seed: 3, numRuns: 3000 },
    );
  });
});

describe('TimeZone.searchStartWallMs', () => {
  it('is the wall time, except in the second pass of a repeated hour', () => {
    const zone = getTimeZone('Europe/Berlin');
    const firstPass = Date.UTC(2027, 9, 31, 0, 30); // 02:30 CEST
    const secondPass = Date.UTC(2027, 9, 31, 1, 30); // 02:30 CET
    expect(zone.searchStartWallMs(firstPass)).toBe(wall(2027, 10, 31, 2, 30));
    expect(zone.searchStartWallMs(secondPass)).toBe(wall(2027, 10, 31, 3, 0) - 1);
    expect(zone.searchStartWallMs(Date.UTC(2027, 9, 31, 2))).toBe(wall(2027, 10, 31, 3, 0));
  });
});

describe('getTimeZone', () => {
  it.each([null, 42, '', 'Mars/Olympus_Mons', 'x'.repeat(500), {}, undefined])(
    'rejects %j with a TriggerError naming the field',
    (name) => {
      expect(() => getTimeZone(name, 'cron "timezone"')).toThrow(TriggerError);
      expect(() => getTimeZone(name, 'cron "timezone"')).toThrow(/^cron "timezone": /);
    },
  );

  it('accepts names in any case and keeps the name as given', () => {
    const zone = getTimeZone('europe/berlin');
    expect(zone.name).toBe('europe/berlin');
    expect(zone.id).toBe('Europe/Berlin');
  });

  it('knows the local zone', () => {
    expect(() => getTimeZone(localTimeZoneName())).not.toThrow();
  });
});
