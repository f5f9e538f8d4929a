import { createRequire } from 'node:module';
import { StoreError, ValidationError } from '../../errors.ts';
import {
  type BetterSqlite3Database,
  isBetterSqlite3,
  isNodeSqlite,
  type NodeSqliteDatabase,
  type SqliteConnection,
  type SqliteDriverName,
  storeErrorFrom,
  wrapConnection,
} from './sqlite-connection.ts';

export type SqliteDriverChoice = 'auto' | SqliteDriverName;

type BetterSqlite3Constructor = new (path: string, options?: { timeout?: number }) => BetterSqlite3Database;
type NodeSqliteModule = { DatabaseSync: new (path: string, options?: { timeout?: number }) => NodeSqliteDatabase };

const require = createRequire(import.meta.url);

/** Opens `path` with the chosen driver; `auto` prefers better-sqlite3 and falls back to `node:sqlite`. */
export function openSqlite(path: string, driver: SqliteDriverChoice, busyTimeoutMs: number): SqliteConnection {
  const name = driver === 'auto' ? (loadBetterSqlite3(false) ? 'better-sqlite3' : 'node:sqlite') : driver;
  try {
    if (name === 'better-sqlite3') {
      const Database = loadBetterSqlite3(true) as BetterSqlite3Constructor;
      return wrapConnection(new Database(path, { timeout: busyTimeoutMs }));
    }
    const { DatabaseSync } = loadNodeSqlite();
    return wrapConnection(new DatabaseSync(path, { timeout: busyTimeoutMs }));
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw storeErrorFrom(error, `open ${path}`, path);
  }
}

/**
 * A second connection to the application's own database file: Kairos keeps its own connection
 * for its work (so it sees the application's commits as changes to react to) and writes on the
 * application's connection only inside the application's transactions.
 */
export function openSibling(
  database: BetterSqlite3Database | NodeSqliteDatabase,
  busyTimeoutMs: number,
): SqliteConnection | null {
  const app = wrapConnection(database);
  if (app.path === null) return null;
  try {
    if (isBetterSqlite3(database)) {
      const Database = database.constructor as BetterSqlite3Constructor;
      return wrapConnection(new Database(app.path, { timeout: busyTimeoutMs }));
    }
    const { DatabaseSync } = loadNodeSqlite();
    return wrapConnection(new DatabaseSync(app.path, { timeout: busyTimeoutMs }));
  } catch (error) {
    throw storeErrorFrom(error, `open a second connection to ${app.path}`, app.path);
  }
}

export function assertConnection(value: unknown): BetterSqlite3Database | NodeSqliteDatabase {
  if (isBetterSqlite3(value) || isNodeSqlite(value)) return value;
  throw new ValidationError(
    'SqliteStore database',
    value,
    'must be a better-sqlite3 Database or a node:sqlite DatabaseSync',
  );
}

let betterSqlite3: unknown;

function loadBetterSqlite3(required: boolean): unknown {
  if (betterSqlite3 !== undefined) return betterSqlite3;
  try {
    betterSqlite3 = require('better-sqlite3');
    return betterSqlite3;
  } catch (error) {
    if (!required) return undefined;
    throw new StoreError(
      "SqliteStore: the better-sqlite3 driver is not installed. Run `npm install better-sqlite3`, or pass driver: 'node:sqlite' to use Node's built-in SQLite (no dependency).",
      { cause: error },
    );
  }
}

function loadNodeSqlite(): NodeSqliteModule {
  const module = process.getBuiltinModule?.('node:sqlite') as NodeSqliteModule | undefined;
  if (module?.DatabaseSync === undefined) {
    throw new StoreError(
      `SqliteStore: this Node (${process.version}) has no node:sqlite; use Node 22.13 or newer, or install better-sqlite3`,
    );
  }
  return module;
}
