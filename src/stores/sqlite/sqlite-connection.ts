import { StoreError } from '../../errors.ts';

/**
 * The part of a SQLite driver Kairos uses, the same for better-sqlite3 and Node's built-in
 * `node:sqlite`. Driver types are declared structurally below, so neither driver is a dependency
 * of Kairos: the application installs (or brings) the one it wants.
 */
export interface SqliteConnection {
  readonly driver: SqliteDriverName;
  /** The database file, or null for an in-memory database. */
  readonly path: string | null;
  run(sql: string, ...params: SqlValue[]): number;
  get<Row>(sql: string, ...params: SqlValue[]): Row | undefined;
  all<Row>(sql: string, ...params: SqlValue[]): Row[];
  exec(sql: string): void;
  inTransaction(): boolean;
  close(): void;
}

export type SqliteDriverName = 'better-sqlite3' | 'node:sqlite';
export type SqlValue = string | number | bigint | null;

/** A better-sqlite3 `Database`, as far as Kairos uses it. */
export interface BetterSqlite3Database {
  readonly name: string;
  readonly memory: boolean;
  readonly inTransaction: boolean;
  prepare(sql: string): {
    run(...params: unknown[]): { changes: number | bigint };
    get(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
  };
  exec(sql: string): unknown;
  close(): unknown;
}

/** A `node:sqlite` `DatabaseSync`, as far as Kairos uses it. */
export interface NodeSqliteDatabase {
  readonly isTransaction: boolean;
  prepare(sql: string): {
    run(...params: unknown[]): { changes: number | bigint };
    get(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
  };
  exec(sql: string): void;
  close(): void;
  location?(dbName?: string): string | null;
}

export function isBetterSqlite3(value: unknown): value is BetterSqlite3Database {
  return (
    typeof value === 'object' &&
    value !== null &&
    'inTransaction' in value &&
    'memory' in value &&
    typeof (value as BetterSqlite3Database).prepare === 'function'
  );
}

export function isNodeSqlite(value: unknown): value is NodeSqliteDatabase {
  return (
    typeof value === 'object' &&
    value !== null &&
    'isTransaction' in value &&
    typeof (value as NodeSqliteDatabase).prepare === 'function'
  );
}

type Statement = ReturnType<BetterSqlite3Database['prepare']>;

/** Wraps either driver's connection; prepared statements are cached by their SQL. */
export function wrapConnection(database: BetterSqlite3Database | NodeSqliteDatabase): SqliteConnection {
  const statements = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = database.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  const better = isBetterSqlite3(database);
  const path = better ? (database.memory ? null : database.name) : fileOf(database as NodeSqliteDatabase);
  return {
    driver: better ? 'better-sqlite3' : 'node:sqlite',
    path,
    run: (sql, ...params) => Number(prepare(sql).run(...params).changes),
    get: <Row>(sql: string, ...params: SqlValue[]) => prepare(sql).get(...params) as Row | undefined,
    all: <Row>(sql: string, ...params: SqlValue[]) => prepare(sql).all(...params) as Row[],
    exec: (sql) => {
      database.exec(sql);
    },
    inTransaction: () => (better ? database.inTransaction : (database as NodeSqliteDatabase).isTransaction),
    close: () => {
      statements.clear();
      database.close();
    },
  };
}

/** The file of a node:sqlite connection: `location()` where Node has it, else SQLite's own answer. */
function fileOf(database: NodeSqliteDatabase): string | null {
  let location: string | null | undefined = typeof database.location === 'function' ? database.location() : undefined;
  if (location === undefined) {
    const main = (database.prepare('PRAGMA database_list').all() as Array<{ name: string; file: string }>).find(
      (row) => row.name === 'main',
    );
    location = main?.file ?? null;
  }
  return location === null || location === '' || location === ':memory:' ? null : location;
}

/** Translates a driver error into a `StoreError` that says what it means for the user. */
export function storeErrorFrom(error: unknown, action: string, path: string | null): StoreError {
  const code = (error as { code?: string } | null)?.code ?? '';
  const message = error instanceof Error ? error.message : String(error);
  const file = path ?? 'the in-memory database';
  let meaning: string;
  if (/NOTADB|not a database/i.test(`${code} ${message}`))
    meaning = `${file} is not a SQLite database, or it is corrupt`;
  else if (/CORRUPT|malformed/i.test(`${code} ${message}`)) meaning = `${file} is corrupt`;
  else if (/BUSY|LOCKED|database is locked/i.test(`${code} ${message}`))
    meaning = `${file} stayed locked by another connection beyond the busy timeout`;
  else if (/FULL|disk is full|database or disk is full/i.test(`${code} ${message}`))
    meaning = `${file} cannot grow: the disk (or the database's size limit) is full`;
  else if (/READONLY|readonly/i.test(`${code} ${message}`)) meaning = `${file} is read-only`;
  else if (/CANTOPEN|unable to open/i.test(`${code} ${message}`)) meaning = `${file} cannot be opened`;
  else meaning = 'the database reported an error';
  return new StoreError(`SqliteStore: could not ${action}: ${meaning} (${message})`, { cause: error });
}
