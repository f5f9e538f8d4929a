import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgArrayLiteral } from '../../../src/stores/postgres/pg-arrays.ts';
import { TEST_DATABASE_URL } from './pg-test-database.ts';

describe('pgArrayLiteral', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
  });
  afterAll(() => client.end());

  it('gives PostgreSQL back every text exactly, NULL as NULL', async () => {
    const texts = [
      'a',
      '',
      'NULL',
      'null',
      'a,b',
      '{x}',
      'quote"',
      'back\\slash',
      ' spaced ',
      'ünï 🙂',
      null,
      '\\"both"\\',
      '\t\n',
    ];
    const { rows } = await client.query<{ value: string | null }>('SELECT unnest($1::text[]) AS value', [
      pgArrayLiteral(texts),
    ]);
    expect(rows.map((row) => row.value)).toEqual(texts);
  });

  it('gives PostgreSQL back numbers and NULLs', async () => {
    const numbers = [0, -2.5, null, 1764000000123, 42];
    const { rows } = await client.query<{ value: number | null }>('SELECT unnest($1::float8[]) AS value', [
      pgArrayLiteral(numbers),
    ]);
    expect(rows.map((row) => row.value)).toEqual(numbers);
  });

  it('writes an empty array', async () => {
    const { rows } = await client.query<{ n: number }>('SELECT cardinality($1::text[]) AS n', [pgArrayLiteral([])]);
    expect(rows[0]?.n).toBe(0);
  });
});
