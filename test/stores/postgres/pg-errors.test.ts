import { describe, expect, it } from 'vitest';
import { pgStoreError } from '../../../src/stores/postgres/pg-errors.ts';

/** The error PgBouncer answers a start-up it refuses with (protocol violation). */
const refusal = (message: string) => Object.assign(new Error(message), { code: '08P01' });

describe('pgStoreError for a start-up setting a pooler refuses', () => {
  it("says to give a pool of yours when it is Kairos's own statement_timeout", () => {
    const error = pgStoreError(refusal('unsupported startup parameter: statement_timeout'), 'apply migrations');
    expect(error.message).toMatch(/PgBouncer.*statement_timeout.*give the store a pool of yours/);
  });

  it('names a setting of the pool, also one given in `options` (as newer PgBouncer reports it)', () => {
    for (const [message, name] of [
      ['unsupported startup parameter: search_path', 'search_path'],
      ['unsupported startup parameter in options: statement_timeout', 'statement_timeout'],
    ]) {
      const error = pgStoreError(refusal(message ?? ''), 'apply migrations');
      expect(error.message).toMatch(new RegExp(`PgBouncer.*refused the setting ${name} .*ignore_startup_parameters`));
    }
  });
});
