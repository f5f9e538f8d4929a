import { ValidationError } from '../../errors.ts';
import { transactionOver } from './transaction-over.ts';
import type { PgQueryable, PgQueryResult } from '../../stores/postgres/pg-types.ts';

/** The part of a Knex transaction (client `pg`) the adapter uses, declared structurally. */
export interface KnexTransactionLike {
  readonly isTransaction?: boolean;
  /** True once the transaction is committed or rolled back. */
  isCompleted?(): boolean;
  raw(sql: string, bindings: readonly unknown[]): PromiseLike<unknown>;
}

/**
 * Kairos statements on a Knex transaction: `addJob(task, { tx: fromKnex(trx) })` inside
 * `knex.transaction(async (trx) => ...)`.
 *
 * Knex's `raw` takes `?` placeholders, Kairos writes `$1`: each `$n` becomes a `?` with its value
 * bound in that position (a value used twice is bound twice), and every `?` already in the text is
 * escaped (`\?`) so Knex leaves it alone. This is safe because Kairos's SQL never has `$n` inside a
 * string literal, a quoted identifier or a dollar-quoted body; it is meant for Kairos's own
 * statements, not as a general `$n` translator. On the `pg` client, `knex.raw` answers with the
 * driver's own result (`rows`, `rowCount`), which is what Kairos reads.
 */
export function fromKnex(trx: KnexTransactionLike): PgQueryable {
  if (typeof trx?.raw !== 'function' || trx.isTransaction !== true) {
    throw new ValidationError(
      'fromKnex(trx)',
      trx,
      'must be a Knex transaction: the `trx` of knex.transaction(async (trx) => ...), not the knex instance',
    );
  }
  return {
    async query<Row>(text: string, values: unknown[] = []): Promise<PgQueryResult<Row>> {
      if (trx.isCompleted?.() === true) throw transactionOver('fromKnex(trx)', 'a Knex transaction', undefined);
      const { sql, bindings } = toKnexBindings(text, values);
      const result = (await trx.raw(sql, bindings)) as (Partial<PgQueryResult<Row>> & RawFields) | undefined;
      if (Array.isArray(result)) {
        // pg answers with an object: a hook (postProcessResponse) made an array of it.
        throw new ValidationError(
          'fromKnex(trx)',
          trx,
          "answered with an array where pg gives its result object: a postProcessResponse hook changed the result of Kairos's statement, which did run; roll the transaction back, and let the hook leave pg's result objects whole",
        );
      }
      if (result === undefined || !Array.isArray(result.rows)) {
        throw new ValidationError('fromKnex(trx)', trx, "must be a Knex transaction on the PostgreSQL client ('pg')");
      }
      return { rows: columnsAsReturned(trx, result.rows, result.fields), rowCount: result.rowCount ?? null };
    },
  };
}

/** The column descriptions of a `pg` result. */
interface RawFields {
  fields?: ReadonlyArray<{ name?: unknown }>;
}

/**
 * The rows with their columns named as PostgreSQL returned them. Knex runs its
 * `postProcessResponse` hook on raw results too, and an application's hook that maps column names
 * (to camelCase, say) would rename the columns Kairos reads. `pg` keeps the names in `fields`, in
 * the order of each row's values, so a hook that renames keys one for one is undone; one that
 * drops or adds keys cannot be, and is refused.
 */
function columnsAsReturned<Row>(trx: KnexTransactionLike, rows: Row[], fields: RawFields['fields']): Row[] {
  const named = fields?.map((field) => field?.name);
  if (named === undefined || !named.every((name): name is string => typeof name === 'string')) return rows;
  // A name returned twice is one key of the row, where it first came (`pg` keeps the last value).
  const names = [...new Set(named)];
  return rows.map((row) => {
    const keys = Object.keys(row as object);
    if (keys.length === names.length && keys.every((key, index) => key === names[index])) return row;
    if (keys.length !== names.length) {
      throw new ValidationError(
        'fromKnex(trx)',
        trx,
        `answered with the columns ${JSON.stringify(keys)} where PostgreSQL returned ${JSON.stringify(names)}: a postProcessResponse hook changed the result; it may rename columns, but must keep each of them`,
      );
    }
    const values = Object.values(row as object);
    return Object.fromEntries(names.map((name, index) => [name, values[index]])) as Row;
  });
}

/** `$1`-style SQL as Knex `?` bindings (exported for tests). */
export function toKnexBindings(text: string, values: readonly unknown[]): { sql: string; bindings: unknown[] } {
  const bindings: unknown[] = [];
  const sql = text.replace(/\?|\$(\d+)/g, (match, position: string | undefined) => {
    if (position === undefined) return '\\?';
    const index = Number(position) - 1;
    if (index < 0 || index >= values.length) {
      throw new ValidationError('SQL parameter', match, `has no value (${values.length} given)`);
    }
    // pg sends undefined as NULL; Knex refuses undefined bindings.
    bindings.push(values[index] ?? null);
    return '?';
  });
  return { sql, bindings };
}
