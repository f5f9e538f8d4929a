import fc from 'fast-check';

/** Zones with DST, 30- and 45-minute offsets, and none. */
export const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Asia/Kathmandu',
  'Asia/Kolkata',
  'America/Sao_Paulo',
] as const;

export const zone = fc.constantFrom(...ZONES);

/** Whole-second instants from 2021 to 2035. */
export const instant = fc
  .integer({ min: Date.UTC(2021, 0, 1) / 1000, max: Date.UTC(2035, 0, 1) / 1000 })
  .map((seconds) => new Date(seconds * 1000));

const item = (min: number, max: number) =>
  fc.oneof(
    fc.integer({ min, max }).map(String),
    fc.tuple(fc.integer({ min, max }), fc.integer({ min, max })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
    fc.integer({ min: 2, max: Math.max(2, Math.floor((max - min + 1) / 2)) }).map((n) => `*/${n}`),
    fc
      .tuple(fc.integer({ min, max }), fc.integer({ min, max }), fc.integer({ min: 1, max: Math.min(10, max - min) }))
      .map(([a, b, n]) => `${Math.min(a, b)}-${Math.max(a, b)}/${n}`),
  );

const field = (min: number, max: number) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant('*') },
    {
      weight: 3,
      arbitrary: fc.array(item(min, max), { minLength: 1, maxLength: 3 }).map((items) => items.join(',')),
    },
  );

/**
 * Cron expressions (5 or 6 fields) in the syntax that croner and Kairos define the same way:
 * numbers, ranges, steps, lists, names, `L`, `LW`, `nW`, `nL`, `n#k`.
 */
export const cronExpression = fc
  .tuple(
    fc.oneof({ weight: 3, arbitrary: fc.constant('0') }, { weight: 1, arbitrary: field(0, 59) }),
    fc.oneof(
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 59 }).map(String) },
      { weight: 2, arbitrary: field(0, 59) },
    ),
    field(0, 23),
    fc.oneof(
      { weight: 4, arbitrary: field(1, 31) },
      { weight: 1, arbitrary: fc.constantFrom('L', 'LW', '15W', '1W', '31W') },
    ),
    fc.oneof(field(1, 12), fc.constantFrom('jan', 'feb,aug', 'mar-oct', 'JUN-DEC/2')),
    fc.oneof(
      { weight: 4, arbitrary: field(0, 6) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('mon-fri', 'sat,sun', 'FRI#2', '1#1', '5L', 'MON#L', '7', 'fri-sun'),
      },
    ),
    fc.boolean(),
  )
  .map(([s, mi, h, dom, mo, dow, withSeconds]) =>
    withSeconds ? `${s} ${mi} ${h} ${dom} ${mo} ${dow}` : `${mi} ${h} ${dom} ${mo} ${dow}`,
  );
