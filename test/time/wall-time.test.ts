import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  civilFromDays,
  daysFromCivil,
  daysInMonth,
  isoWeekOfDays,
  MS_PER_DAY,
  wallMsFromFields,
  wallTimeFromMs,
  weekdayOfDays,
} from '../../src/time/wall-time.ts';

describe('wall-time', () => {
  it('agrees with Date.UTC on day numbers, both ways', () => {
    fc.assert(
      fc.property(fc.integer({ min: -3_000_000, max: 3_000_000 }), (days) => {
        const date = new Date(days * MS_PER_DAY);
        const civil = civilFromDays(days);
        expect(civil).toEqual({
          year: date.getUTCFullYear(),
          month: date.getUTCMonth() + 1,
          day: date.getUTCDate(),
        });
        expect(daysFromCivil(civil.year, civil.month, civil.day)).toBe(days);
        expect(weekdayOfDays(days)).toBe(date.getUTCDay());
      }),
      { seed: 1, numRuns: 2000 },
    );
  });

  it.each([
    [2024, 2, 29],
    [2023, 2, 28],
    [2100, 2, 28],
    [2000, 2, 29],
    [2027, 4, 30],
    [2027, 12, 31],
  ])('daysInMonth(%i, %i) is %i', (year, month, length) => {
    expect(daysInMonth(year, month)).toBe(length);
  });

  it.each([
    ['2027-01-01', 53], // a Friday: still in week 53 of 2026
    ['2026-12-31', 53],
    ['2027-01-04', 1],
    ['2024-12-30', 1], // Monday of week 1 of 2025
    ['2021-01-03', 53],
    ['2027-06-15', 24],
  ])('ISO week of %s is %i', (text, week) => {
    const [year, month, day] = text.split('-').map(Number) as [number, number, number];
    expect(isoWeekOfDays(daysFromCivil(year, month, day))).toBe(week);
  });

  it('round-trips wall fields', () => {
    const fields = {
      year: 2027,
      month: 3,
      day: 28,
      hour: 2,
      minute: 30,
      second: 15,
      millisecond: 250,
    };
    expect(wallTimeFromMs(wallMsFromFields(fields))).toEqual(fields);
    expect(wallMsFromFields(fields)).toBe(Date.UTC(2027, 2, 28, 2, 30, 15, 250));
  });
});
