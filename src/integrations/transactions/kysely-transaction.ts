import { ValidationError } from '../../errors.ts';
import { transactionOver } from './transaction-over.ts';
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
const KYSELY_OVER = /^Transaction is already (committed|rolled back)$/;

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
      let result: Awaited<ReturnType<typeof executor.executeQuery>>;
      try {
        result = await executor.executeQuery({
          sql: text,
          parameters: values,
          query: { kind: 'RawNode', sqlFragments: [text], parameters: [] },
          queryId: { queryId: `kairos-${++queryIds}` },
        });
      } catch (error) {
        // Kysely's own words for a transaction that is over (kept past its `execute()`, or a
        // controlled one after its commit or rollback), said before anything is sent.
        if (error instanceof Error && KYSELY_OVER.test(error.message)) {
          throw transactionOver('fromKysely(trx)', 'a Kysely transaction', error);
        }
        throw error;
      }
      // Kysely reports numAffectedRows for INSERT/UPDATE/DELETE/MERGE, and nothing for a SELECT.
      const rowCount = result.numAffectedRows === undefined ? result.rows.length : Number(result.numAffectedRows);
      return { rows: result.rows as Row[], rowCount };
    },
  };
}
