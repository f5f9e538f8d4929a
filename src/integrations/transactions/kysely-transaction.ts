import { ValidationError } from '../../errors.ts';
import type { PgQueryable, PgQueryResult } from '../../stores/postgres/pg-types.ts';

/** The part of a Kysely `Transaction` (PostgresDialect) the adapter uses, declared structurally. */
export interface KyselyTransactionLike {
  readonly isTransaction: boolean;
  withoutPlugins(): {
    executeQuery(query: KyselyCompiledQuery): Promise<{ rows: unknown[]; numAffectedRows?: bigint }>;
  };
}

/** The shape of Kysely's `CompiledQuery.raw(sql, parameters)`, built here so Kysely stays optional. */
interface KyselyCompiledQuery {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly query: {
    readonly kind: 'RawNode';
    readonly sqlFragments: readonly string[];
    readonly parameters: readonly [];
  };
  readonly queryId: { readonly queryId: string };
}

let queryIds = 0;

/**
 * Kairos statements on a Kysely transaction: `addJob(task, { tx: fromKysely(trx) })` inside
 * `db.transaction().execute(async (trx) => ...)` (or on a `db.startTransaction()`). The SQL and its
 * `$1` parameters go through as a compiled raw query, without the instance's plugins, so a
 * `CamelCasePlugin` does not rename the columns Kairos reads.
 */
export function fromKysely(trx: KyselyTransactionLike): PgQueryable {
  if (typeof trx?.withoutPlugins !== 'function' || trx.isTransaction !== true) {
    throw new ValidationError(
      'fromKysely(trx)',
      trx,
      'must be a Kysely transaction: the `trx` of db.transaction().execute(async (trx) => ...), not the Kysely instance',
    );
  }
  const executor = trx.withoutPlugins();
  return {
    async query<Row>(text: string, values: unknown[] = []): Promise<PgQueryResult<Row>> {
      const result = await executor.executeQuery({
        sql: text,
        parameters: values,
        query: { kind: 'RawNode', sqlFragments: [text], parameters: [] },
        queryId: { queryId: `kairos-${++queryIds}` },
      });
      // Kysely reports numAffectedRows for INSERT/UPDATE/DELETE/MERGE, and nothing for a SELECT.
      const rowCount = result.numAffectedRows === undefined ? result.rows.length : Number(result.numAffectedRows);
      return { rows: result.rows as Row[], rowCount };
    },
  };
}
