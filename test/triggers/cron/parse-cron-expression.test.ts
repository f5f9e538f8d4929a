import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../../src/errors.ts';
import { cron } from '../../../src/triggers/index.ts';
import { firesUtc } from '../fire-helpers.ts';

const utc = (expression: string, from: string, count = 4) =>
  firesUtc(cron(expression, { timezone: 'UTC' }), from, count);

describe('cron expression syntax', () => {
  // 2027-01-01 is a Friday.
  it.each([
    ['* * * * *', ['2027-01-01T00:00:00Z', '2027-01-01T00:01:00Z', '2027-01-01T00:02:00Z']],
    ['*/15 * * * *', ['2027-01-01T00:00:00Z', '2027-01-01T00:15:00Z', '2027-01-01T00:30:00Z']],
    ['5-20/5 * * * *', ['2027-01-01T00:05:00Z', '2027-01-01T00:10:00Z', '2027-01-01T00:15:00Z']],
    ['50/5 * * * *', ['2027-01-01T00:50:00Z', '2027-01-01T00:55:00Z', '2027-01-01T01:50:00Z']],
    ['0 9,17 * * *', ['2027-01-01T09:00:00Z', '2027-01-01T17:00:00Z', '2027-01-02T09:00:00Z']],
    ['0 0 * * mon-fri', ['2027-01-01T00:00:00Z', '2027-01-04T00:00:00Z', '2027-01-05T00:00:00Z']],
    ['0 0 * * MON,Wed', ['2027-01-04T00:00:00Z', '2027-01-06T00:00:00Z', '2027-01-11T00:00:00Z']],
    ['0 0 * * 7', ['2027-01-03T00:00:00Z', '2027-01-10T00:00:00Z', '2027-01-17T00:00:00Z']],
    ['0 0 * * 0', ['2027-01-03T00:00:00Z', '2027-01-10T00:00:00Z', '2027-01-17T00:00:00Z']],
    ['0 0 * * fri-sun', ['2027-01-01T00:00:00Z', '2027-01-02T00:00:00Z', '2027-01-03T00:00:00Z']],
    ['0 0 * * 5-7', ['2027-01-01T00:00:00Z', '2027-01-02T00:00:00Z', '2027-01-03T00:00:00Z']],
    ['0 0 1 jan,JUL *', ['2027-01-01T00:00:00Z', '2027-07-01T00:00:00Z', '2028-01-01T00:00:00Z']],
    ['0 0 1 */4 *', ['2027-01-01T00:00:00Z', '2027-05-01T00:00:00Z', '2027-09-01T00:00:00Z']],
    ['30 0 0 * * *', ['2027-01-01T00:00:30Z', '2027-01-02T00:00:30Z', '2027-01-03T00:00:30Z']],
    ['*/20 * * * * *', ['2027-01-01T00:00:00Z', '2027-01-01T00:00:20Z', '2027-01-01T00:00:40Z']],
    ['0 0 0 1 1 * 2030,2032', ['2030-01-01T00:00:00Z', '2032-01-01T00:00:00Z']],
    ['0 0 0 1 1 ? 2029-2030', ['2029-01-01T00:00:00Z', '2030-01-01T00:00:00Z']],
    ['  0   12 *  *   *  ', ['2027-01-01T12:00:00Z', '2027-01-02T12:00:00Z', '2027-01-03T12:00:00Z']],
    // Vixie: both day fields restricted -> either may match.
    ['0 0 13 * fri', ['2027-01-01T00:00:00Z', '2027-01-08T00:00:00Z', '2027-01-13T00:00:00Z']],
    // `?` leaves a day field unrestricted, so only the other one counts.
    ['0 0 ? * fri', ['2027-01-01T00:00:00Z', '2027-01-08T00:00:00Z', '2027-01-15T00:00:00Z']],
    // `+` turns the day fields into AND: Friday the 13th.
    ['0 0 13 * +fri', ['2027-08-13T00:00:00Z', '2028-10-13T00:00:00Z', '2029-04-13T00:00:00Z']],
    ['0 0 L * *', ['2027-01-31T00:00:00Z', '2027-02-28T00:00:00Z', '2027-03-31T00:00:00Z']],
    ['0 0 L-1 * *', ['2027-01-30T00:00:00Z', '2027-02-27T00:00:00Z', '2027-03-30T00:00:00Z']],
    ['0 0 1,L * *', ['2027-01-01T00:00:00Z', '2027-01-31T00:00:00Z', '2027-02-01T00:00:00Z']],
    ['0 0 LW * *', ['2027-01-29T00:00:00Z', '2027-02-26T00:00:00Z', '2027-03-31T00:00:00Z']],
    // 2027-05-15 is a Saturday -> Friday 14th; 2027-08-15 a Sunday -> Monday 16th.
    ['0 0 15W 5,8 *', ['2027-05-14T00:00:00Z', '2027-08-16T00:00:00Z', '2028-05-15T00:00:00Z']],
    // 1W on a Saturday stays in the month: Monday the 3rd (2028-01-01 is a Saturday).
    ['0 0 1W 1 *', ['2027-01-01T00:00:00Z', '2028-01-03T00:00:00Z', '2029-01-01T00:00:00Z']],
    ['0 0 * * 5L', ['2027-01-29T00:00:00Z', '2027-02-26T00:00:00Z', '2027-03-26T00:00:00Z']],
    ['0 0 * * FRIL', ['2027-01-29T00:00:00Z', '2027-02-26T00:00:00Z', '2027-03-26T00:00:00Z']],
    ['0 0 * * FRI#L', ['2027-01-29T00:00:00Z', '2027-02-26T00:00:00Z', '2027-03-26T00:00:00Z']],
    ['0 0 * * mon#1', ['2027-01-04T00:00:00Z', '2027-02-01T00:00:00Z', '2027-03-01T00:00:00Z']],
    ['0 0 * * 1#5', ['2027-03-29T00:00:00Z', '2027-05-31T00:00:00Z', '2027-08-30T00:00:00Z']],
    ['@yearly', ['2027-01-01T00:00:00Z', '2028-01-01T00:00:00Z', '2029-01-01T00:00:00Z']],
    ['@annually', ['2027-01-01T00:00:00Z', '2028-01-01T00:00:00Z', '2029-01-01T00:00:00Z']],
    ['@monthly', ['2027-01-01T00:00:00Z', '2027-02-01T00:00:00Z', '2027-03-01T00:00:00Z']],
    ['@weekly', ['2027-01-03T00:00:00Z', '2027-01-10T00:00:00Z', '2027-01-17T00:00:00Z']],
    ['@DAILY', ['2027-01-01T00:00:00Z', '2027-01-02T00:00:00Z', '2027-01-03T00:00:00Z']],
    ['@midnight', ['2027-01-01T00:00:00Z', '2027-01-02T00:00:00Z', '2027-01-03T00:00:00Z']],
    ['@hourly', ['2027-01-01T00:00:00Z', '2027-01-01T01:00:00Z', '2027-01-01T02:00:00Z']],
  ])('%s', (expression, expected) => {
    expect(utc(expression, '2027-01-01T00:00:00Z', expected.length)).toEqual(expected);
  });

  it.each([
    ['0 25 * * *', 'cron field "hour": 25 is out of range 0-23'],
    ['60 * * * *', 'cron field "minute": 60 is out of range 0-59'],
    ['0 0 0 * *', 'cron field "dayOfMonth": 0 is out of range 1-31'],
    ['0 0 * 13 *', 'cron field "month": 13 is out of range 1-12'],
    ['0 0 * * 8', 'cron field "dayOfWeek": 8 is out of range 0-7'],
    ['0 0 0 * * * 1969', 'cron field "year": 1969 is out of range 1970-9999'],
    ['0 0 * *', 'cron "expression": "0 0 * *" has 4 fields; expected 5'],
    ['* * * * * * * *', 'has 8 fields'],
    ['', 'has 0 fields'],
    ['5-1 * * * *', 'cron field "minute": "5-1" is a range whose start is after its end'],
    ['*/0 * * * *', 'cron field "minute": "*/0" has a step out of range 1-60'],
    ['*/61 * * * *', 'has a step out of range 1-60'],
    ['1,,2 * * * *', 'cron field "minute": "1,,2" has an empty list item'],
    ['? * * * *', 'cron field "minute": "?" is only allowed in day-of-month and day-of-week'],
    ['0 0 * * L', 'cron field "dayOfWeek": "L" is ambiguous'],
    ['0 0 * * 1#6', 'cron field "dayOfWeek": 6 is out of range 1-5'],
    ['0 0 32W * *', 'cron field "dayOfMonth": 32 is out of range 1-31'],
    ['0 0 L-31 * *', 'cron field "dayOfMonth": 31 is out of range 0-30'],
    ['0 0 * * +', 'cron field "dayOfWeek": "+" is empty after "+"'],
    ['0 0 * foo *', 'cron field "month": "foo" is not valid'],
    ['@reboot', 'cron "expression": "@reboot" is not a known macro'],
    ['0 0 * * sat-mon', 'is a range whose start is after its end'],
    ['0 0 99999999999999 * *', 'cron field "dayOfMonth": "99999999999999" is out of range 1-31'],
  ])('rejects %j', (expression, message) => {
    const attempt = () => cron(expression, { timezone: 'UTC' });
    expect(attempt).toThrow(TriggerError);
    expect(attempt).toThrow(message);
  });

  it('rejects over-long expressions without parsing them', () => {
    expect(() => cron(`${'1,'.repeat(5000)}1 * * * *`)).toThrow(/longer than 1024 characters/);
  });
});
