import type { SqliteConnection } from './sqlite-connection.ts';

/**
 * How long one try to take the write lock may wait inside SQLite. Both drivers are synchronous:
 * while SQLite waits for a lock another process holds, the whole event loop waits with it (the
 * application's HTTP server included). So a write that can wait asynchronously tries for this
 * long, lets the process go on, and tries again, until the busy timeout has passed in all.
 */
export const LOCK_TRY_MS = 20;
const LONGEST_PAUSE_MS = 50;

/** How a write takes the write lock without holding the event loop long. */
export interface WriteLock {
  /** Starts the transaction, or false if another connection holds the lock for now. */
  tryBegin(db: SqliteConnection): boolean;
  busyTimeoutMs: number;
}

export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  return (
    /SQLITE_BUSY/.test(String(code)) ||
    /database is locked/i.test(message) ||
    (error as { errcode?: unknown })?.errcode === 5
  );
}

/**
 * Starts a write transaction (`BEGIN IMMEDIATE`) waiting at most `LOCK_TRY_MS` for the lock; false
 * if another connection held it that long. `fullTimeoutMs` is the connection's busy timeout, put
 * back at once, so that the transaction's own statements (and the writes that wait in place:
 * migrations, the last flush on close) wait as configured. Only for connections this store owns: an application's connection keeps its setting.
 */
export function tryBegin(db: SqliteConnection, fullTimeoutMs: number): boolean {
  db.exec(`PRAGMA busy_timeout = ${Math.min(LOCK_TRY_MS, Math.floor(fullTimeoutMs))}`);
  try {
    db.exec('BEGIN IMMEDIATE');
    return true;
  } catch (error) {
    if (isBusy(error)) return false;
    throw error;
  } finally {
    db.exec(`PRAGMA busy_timeout = ${Math.floor(fullTimeoutMs)}`);
  }
}

/** Starts a write transaction, waiting for the lock as long as the connection's busy timeout says. */
export function beginNow(db: SqliteConnection): boolean {
  db.exec('BEGIN IMMEDIATE');
  return true;
}

/** The error of a write that found the lock taken for its whole busy timeout, as SQLite reports it. */
export function busyError(): Error {
  return Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
}

/** The pause before the next try: 1 ms, doubling up to 50 ms. */
export function nextPause(pauseMs: number): number {
  return Math.min(LONGEST_PAUSE_MS, pauseMs * 2);
}
