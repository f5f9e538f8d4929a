import { Cron } from 'croner';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cron } from '../../../src/triggers/index.ts';
import { cronExpression, instant, zone } from '../trigger-arbitraries.ts';

/**
 * The expression form against croner (v11, its default options: OR of the day fields, POSIX
 * weekday numbers), over generated expressions, zones and start times.
 *
 * Where the two differ on purpose, fire times are left out of the comparison: croner runs
 * "interval" jobs (a wildcard or step in seconds, minutes or hours) on both passes of a repeated
 * hour and skips their times in a gap, while Kairos fires every matching wall time once (a gap
 * time at the end of the gap, a repeated time at its first pass). So fire times within 26 hours
 * of a UTC-offset change are not compared. The offset check uses Intl directly, not the code
 * under test.
 */

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function intlOffset(name: string, at: number): string {
  let formatter = formatters.get(name);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'longOffset' });
    formatters.set(name, formatter);
  }
  return formatter.format(at).split(' ').pop() as string;
}

function nearOffsetChange(name: string, at: number): boolean {
  const window = DAY_MS + 2 * 3_600_000;
  return intlOffset(name, at - window) !== intlOffset(name, at + window);
}

describe('cron expressions: Kairos vs croner', () => {
  it('agree on fire times away from DST transitions', () => {
    let compared = 0;
    fc.assert(
      fc.property(cronExpression, zone, instant, (text, zoneName, from) => {
        const count = 8;
        const ours: number[] = [];
        const trigger = cron(text, { timezone: zoneName });
        let after = from;
        for (let index = 0; index < count; index++) {
          const fire = trigger.next(after);
          if (fire === null) break;
          ours.push(fire.getTime());
          after = fire;
        }
        const theirs = new Cron(text, { timezone: zoneName }).nextRuns(count, from).map((date) => date.getTime());
        // Compare up to where both lists reach, leaving out the stretches around offset changes.
        const horizon = Math.min(ours.at(-1) ?? Number.POSITIVE_INFINITY, theirs.at(-1) ?? Number.POSITIVE_INFINITY);
        const keep = (time: number) => time <= horizon && !nearOffsetChange(zoneName, time);
        const a = ours.filter(keep).map((time) => new Date(time).toISOString());
        const b = theirs.filter(keep).map((time) => new Date(time).toISOString());
        expect({ expression: text, zone: zoneName, from: from.toISOString(), times: a }).toEqual({
          expression: text,
          zone: zoneName,
          from: from.toISOString(),
          times: b,
        });
        compared += a.length;
      }),
      { seed: 20_270_101, numRuns: 600 },
    );
    // The comparison must have compared something substantial.
    expect(compared).toBeGreaterThan(2000);
  });
});
