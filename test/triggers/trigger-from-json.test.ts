import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TriggerError } from '../../src/errors.ts';
import { cron, fireTimes, type Trigger, triggerFromJSON } from '../../src/triggers/index.ts';

const EXAMPLES: unknown[] = [
  { type: 'cron', expression: '0 0 * * mon-fri', timezone: 'Europe/Berlin' },
  { type: 'cron', hour: '0', dayOfWeek: 'mon-fri', timezone: 'UTC' },
  {
    type: 'cron',
    year: 2030,
    month: 'jan-mar',
    day: 'last fri',
    week: '*/2',
    hour: 9,
    minute: 15,
    second: 30,
    jitter: 0,
  },
  { type: 'interval', minutes: 5, startDate: '2027-01-01T00:00:00Z' },
  {
    type: 'interval',
    weeks: 1,
    days: 2,
    hours: 3,
    minutes: 4,
    seconds: 5,
    milliseconds: 6,
    endDate: '2030-01-01',
    timezone: 'Asia/Kathmandu',
  },
  { type: 'date', runDate: '2027-01-01T09:00:00+01:00' },
  { type: 'date', runDate: '2027-01-01T09:00:00', timezone: 'America/New_York', jitter: 1.5 },
  { type: 'calendarInterval', months: 1, day: 1, hour: 9, timezone: 'Europe/Paris' },
  {
    type: 'calendarInterval',
    years: 1,
    weeks: 1,
    days: 1,
    minute: 5,
    second: 6,
    startDate: '2027-02-03',
  },
  {
    type: 'or',
    triggers: [
      { type: 'interval', hours: 1 },
      { type: 'date', runDate: '2027-01-01T00:00:00Z' },
    ],
  },
  {
    type: 'and',
    triggers: [
      { type: 'cron', expression: '0 * * * *', timezone: 'UTC' },
      { type: 'interval', hours: 2 },
    ],
    jitter: 10,
  },
];

describe('triggerFromJSON', () => {
  it.each(EXAMPLES.map((json) => [(json as { type: string }).type, json]))(
    'round-trips a %s trigger exactly and behaves the same',
    (_type, json) => {
      const trigger = triggerFromJSON(json);
      expect(trigger.toJSON()).toEqual(json);
      const again = triggerFromJSON(JSON.parse(JSON.stringify(trigger.toJSON())));
      expect(again.toJSON()).toEqual(json);
      const from = new Date('2026-06-01T00:00:00Z');
      expect(fireTimes(again, from, 5)).toEqual(fireTimes(trigger, from, 5));
      expect(again.describe()).toBe(trigger.describe());
    },
  );

  it.each([
    [null, 'trigger: null must be an object with a "type"'],
    [[], 'trigger: [] must be an object'],
    ['0 * * * *', 'trigger: "0 * * * *" must be an object'],
    [{}, 'trigger "type": undefined must be one of'],
    [{ type: 'Cron' }, 'trigger "type": "Cron" must be one of'],
    [{ type: 'cron', expression: 5 }, 'cron "expression": 5 must be a string'],
    [{ type: 'interval', minutes: 5, timezone: 12 }, 'interval "timezone": 12 is not an IANA time zone name'],
    [{ type: 'cron', expression: '* * * * *', jitter: '5' }, 'cron "jitter": "5" must be a number of seconds'],
  ])('rejects %j', (json, message) => {
    expect(() => triggerFromJSON(json)).toThrow(TriggerError);
    expect(() => triggerFromJSON(json)).toThrow(message);
  });

  it('rejects nesting deeper than 16 levels instead of overflowing the stack', () => {
    let json: unknown = { type: 'interval', minutes: 1 };
    for (let depth = 0; depth < 10_000; depth++) json = { type: 'or', triggers: [json] };
    expect(() => triggerFromJSON(json)).toThrow(/nests deeper than 16 levels/);
  });

  it('turns even hostile objects into a TriggerError', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
      },
    );
    expect(() => triggerFromJSON(hostile)).toThrow(TriggerError);
    const getter = {
      type: 'cron',
      get expression(): string {
        throw new RangeError('nope');
      },
    };
    expect(() => triggerFromJSON(getter)).toThrow(TriggerError);
  });

  it('only ever throws TriggerError on garbage of any type', () => {
    const onlyTriggerErrors = (input: unknown) => {
      try {
        const trigger = triggerFromJSON(input);
        trigger.next(new Date('2027-01-01T00:00:00Z'));
        trigger.describe();
      } catch (error) {
        if (!(error instanceof TriggerError)) throw error;
      }
    };
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withDate: true, withMap: true, withNullPrototype: true }),
        onlyTriggerErrors,
      ),
      {
        seed: 5,
        numRuns: 2000,
      },
    );
    // Objects that look like triggers get past the first checks, with garbage in every key.
    const value = fc.oneof(
      fc.anything(),
      fc.string(),
      fc.integer({ min: -100, max: 100 }),
      fc.double(),
      fc.constantFrom('*', '*/5', '1-5', 'L', 'last fri', '2027-01-01', 'UTC', 'mon-fri', '', ' '),
    );
    const shaped = fc.record(
      {
        type: fc.constantFrom('cron', 'interval', 'date', 'calendarInterval', 'and', 'or'),
        expression: value,
        hour: value,
        day: value,
        dayOfWeek: value,
        minutes: value,
        months: value,
        runDate: value,
        startDate: value,
        endDate: value,
        timezone: value,
        jitter: value,
        triggers: fc.oneof(value, fc.array(value, { maxLength: 3 })),
      },
      { requiredKeys: ['type'] },
    );
    fc.assert(fc.property(shaped, onlyTriggerErrors), { seed: 6, numRuns: 3000 });
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })), (text) => {
        try {
          cron(text, { timezone: 'UTC' }).next(new Date());
        } catch (error) {
          if (!(error instanceof TriggerError)) throw error;
        }
      }),
      { seed: 8, numRuns: 3000 },
    );
    expect(() => cron('5 '.repeat(1_000_000) as string)).toThrow(TriggerError);
  });
});

describe('fireTimes', () => {
  const hourly: Trigger = cron('0 * * * *', { timezone: 'UTC' });

  it('includes `from` itself when it is a fire time', () => {
    expect(fireTimes(hourly, new Date('2027-01-01T01:00:00Z'), 2).map((time) => time.toISOString())).toEqual([
      '2027-01-01T01:00:00.000Z',
      '2027-01-01T02:00:00.000Z',
    ]);
  });

  it('validates its arguments', () => {
    expect(fireTimes(hourly, new Date(), 0)).toEqual([]);
    expect(() => fireTimes(hourly, new Date(), -1)).toThrow(TriggerError);
    expect(() => fireTimes(hourly, new Date(), 1.5)).toThrow(TriggerError);
    expect(() => fireTimes(hourly, new Date(Number.NaN), 1)).toThrow(TriggerError);
  });
});
