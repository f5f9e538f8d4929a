import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../../src/stores/postgres/pg-timestamps.ts';
import { TEST_DATABASE_URL } from './pg-test-database.ts';

const general = pg.types.getTypeParser(1184, 'text');
const time = (value: unknown) => (value instanceof Date ? value.getTime() : value);
const noFallback = (text: string) => {
  throw new Error(`fell back on ${text}`);
};

/** Timestamps as PostgreSQL prints them, in the session's time zone. */
const SAMPLES = `SELECT t::text AS text FROM unnest(ARRAY[
  now(), '2026-11-24 00:30:42+00', '2026-11-24 00:30:42.1+00', '2026-11-24 00:30:42.12+00',
  '2026-11-24 00:30:42.123+00', '2026-11-24 00:30:42.1234+00', '2026-11-24 00:30:42.999999+00',
  '2026-03-29 01:30:00+00', '2026-10-25 00:59:59.5+00', '2024-02-29 23:59:59.999+00', '1999-12-31 23:59:59+00',
  '1900-01-01 00:00:00+00', '1850-06-15 12:00:00.5+00', '1000-01-01 00:00:00+00',
  '0099-05-05 05:05:05+00', '0001-01-01 00:00:00+00', '0044-03-15 12:00:00+00 BC', '9999-12-31 23:59:59.999999+00',
  '10000-01-01 00:00:00+00', 'infinity', '-infinity'
]::timestamptz[]) AS t`;

describe('parseTimestamptz', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
  });
  afterAll(() => client.end());

  // Offsets of whole hours, half hours, 45 minutes, negative ones, and local mean times with seconds (before 1900).
  for (const zone of [
    'UTC',
    'Asia/Kolkata',
    'America/St_Johns',
    'Pacific/Chatham',
    'America/Sao_Paulo',
    'Europe/Amsterdam',
  ]) {
    it(`reads what PostgreSQL prints in ${zone} exactly as node-postgres does`, async () => {
      await client.query(`SET TimeZone = '${zone}'`);
      const { rows } = await client.query<{ text: string }>(SAMPLES);
      expect(rows.length).toBe(21);
      for (const { text } of rows) {
        expect({ text, parsed: time(parseTimestamptz(text, general)) }).toEqual({ text, parsed: time(general(text)) });
      }
    });
  }

  it('reads every ordinary timestamp itself, whatever the offset', async () => {
    await client.query(`SET TimeZone = 'Europe/Amsterdam'`);
    const { rows } = await client.query<{ text: string }>(
      `SELECT t::text AS text FROM generate_series('1880-01-01'::timestamptz, '2100-01-01', interval '1237 days 3 hours 7 minutes 11.123457 seconds') AS t`,
    );
    expect(rows.some(({ text }) => /\+00:19:32$/.test(text))).toBe(true); // Amsterdam's local mean time, with seconds
    for (const { text } of rows) expect(time(parseTimestamptz(text, noFallback))).toBe(time(general(text)));
  });

  it('leaves every other shape to the general parser', () => {
    const fellBack: string[] = [];
    const fallback = (text: string) => {
      fellBack.push(text);
      return 'general';
    };
    const others = [
      'infinity',
      '-infinity',
      '0044-03-15 12:00:00+00 BC',
      '0999-01-01 00:00:00+00',
      '10000-01-01 00:00:00+00',
      '2026-11-24T00:30:42+00',
      '2026-11-24 00:30:42.+00',
      '2026-11-24 00:30:42+0',
      '2026-11-24 00:30:42Z',
      'Tue Nov 24 00:30:42 2026 UTC',
      '2026-11-24 00:30:42+00 ',
      '2026-1a-24 00:30:42+00',
    ];
    for (const text of others) expect(parseTimestamptz(text, fallback)).toBe('general');
    expect(fellBack).toEqual(others);
  });
});
