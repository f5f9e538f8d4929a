import { ValidationError } from '../../errors.ts';
import type { PgQueryable, PgQueryResult } from '../../stores/postgres/pg-types.ts';

/** The part of a TypeORM `QueryRunner` (postgres driver) the adapter uses, declared structurally. */
export interface TypeOrmQueryRunnerLike {
  readonly isTransactionActive: boolean;
  query(
    query: string,
    parameters: unknown[] | undefined,
    useStructuredResult: true,
  ): Promise<{ records?: unknown[]; affected?: number | null }>;
}

/** A TypeORM `EntityManager`: the one `dataSource.transaction(...)` passes has its query runner. */
export interface TypeOrmEntityManagerLike {
  readonly queryRunner?: TypeOrmQueryRunnerLike | undefined;
}

/**
 * Kairos statements on a TypeORM transaction: `addJob(task, { tx: fromTypeOrm(manager) })` inside
 * `dataSource.transaction(async (manager) => ...)`, or with a `QueryRunner` after
 * `queryRunner.startTransaction()`. Statements go through the query runner with `$1` parameters
 * and its structured result (`records`, `affected`), so TypeORM's logging sees them too.
 */
export function fromTypeOrm(tx: TypeOrmEntityManagerLike | TypeOrmQueryRunnerLike): PgQueryable {
  const runner = isQueryRunner(tx) ? tx : tx?.queryRunner;
  if (!isQueryRunner(runner)) {
    throw new ValidationError(
      'fromTypeOrm(tx)',
      tx,
      'must be the EntityManager of dataSource.transaction(async (manager) => ...) or a QueryRunner in a transaction',
    );
  }
  return {
    async query<Row>(text: string, values: unknown[] = []): Promise<PgQueryResult<Row>> {
      if (!runner.isTransactionActive) {
        throw new ValidationError(
          'fromTypeOrm(tx)',
          tx,
          'has no open transaction (it is over, or startTransaction() was not called)',
        );
      }
      const result = await runner.query(text, values, true);
      const rows = (result.records ?? []) as Row[];
      return { rows, rowCount: result.affected ?? rows.length };
    },
  };
}

function isQueryRunner(value: unknown): value is TypeOrmQueryRunnerLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TypeOrmQueryRunnerLike).query === 'function' &&
    typeof (value as TypeOrmQueryRunnerLike).isTransactionActive === 'boolean'
  );
}
