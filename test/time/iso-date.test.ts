import { describe, expect, it } from 'vitest';
import { formatInstant, formatOffset, parseIsoDate } from '../../src/time/iso-date.ts';
import { getTimeZone } from '../../src/time/time-zone.ts';

describe('parseIsoDate', () => {
  it.each([
    ['2027-01-01T09:00:00Z', { kind: 'instant', ms: Date.UTC(2027, 0, 1, 9) }],
    ['2027-01-01T09:00:00+01:00', { kind: 'instant', ms: Date.UTC(2027, 0, 1, 8) }],
    ['2027-01-01T09:00:00-0530', { kind: 'instant', ms: Date.UTC(2027, 0, 1, 14, 30) }],
    ['2027-01-01T09:00+05', { kind: 'instant', ms: Date.UTC(2027, 0, 1, 4) }],
    ['2027-01-01T09:00:00.5Z', { kind: 'instant', ms: Date.UTC(2027, 0, 1, 9, 0, 0, 500) }],
    ['2027-01-01 09:00:00.123456z', { kind: 'instant', ms: Date.UTC(2027, 0, 1, 9, 0, 0, 123) }],
    ['2027-01-01T09:00', { kind: 'wall', wallMs: Date.UTC(2027, 0, 1, 9) }],
    ['2027-01-01', { kind: 'wall', wallMs: Date.UTC(2027, 0, 1) }],
    ['2024-02-29T23:59:59', { kind: 'wall', wallMs: Date.UTC(2024, 1, 29, 23, 59, 59) }],
  ])('%s', (text, expected) => {
    expect(parseIsoDate(text)).toEqual(expected);
  });

  it.each([
    '2027-02-29',
    '2027-13-01',
    '2027-01-32',
    '2027-01-01T24:00',
    '2027-01-01T12:60',
    '2027-01-01T12:00:60',
    '2027-01-01Z',
    '27-01-01',
    'tomorrow',
    '',
    '2027-01-01T09:00:00+24:00',
    `2027-01-01T09:00:00${'0'.repeat(100)}`,
  ])('rejects %j', (text) => {
    expect(parseIsoDate(text)).toBeNull();
  });
});

describe('formatInstant', () => {
  it('shows the zone offset, seconds always, milliseconds only when not zero', () => {
    const berlin = getTimeZone('Europe/Berlin');
    expect(formatInstant(Date.UTC(2027, 2, 28, 1), berlin)).toBe('2027-03-28T03:00:00+02:00');
    expect(formatInstant(Date.UTC(2027, 0, 1, 0, 0, 0, 5), berlin)).toBe('2027-01-01T01:00:00.005+01:00');
    expect(formatInstant(Date.UTC(2027, 0, 1), getTimeZone('UTC'))).toBe('2027-01-01T00:00:00+00:00');
    expect(formatInstant(Date.UTC(2027, 0, 1), getTimeZone('Asia/Kathmandu'))).toBe('2027-01-01T05:45:00+05:45');
    expect(formatInstant(Date.UTC(1880, 0, 1), berlin)).toBe('1880-01-01T00:53:28+00:53:28');
  });

  it('formats offsets', () => {
    expect(formatOffset(-(3 * 3600 + 30 * 60) * 1000)).toBe('-03:30');
    expect(formatOffset(0)).toBe('+00:00');
    expect(formatOffset((12 * 3600 + 45 * 60) * 1000)).toBe('+12:45');
  });
});
