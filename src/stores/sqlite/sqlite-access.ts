import { KairosError, SchedulerStateError, StoreError, ValidationError } from '../../errors.ts';
import { openSibling, openSqlite, type SqliteDriverChoice } from './open-sqlite.ts';
import { beginNow, busyError, nextPause, tryBegin, type WriteLock } from './write-lock.ts';
import {
  type BetterSqlite3Database,
  isBetterSqlite3,
  isNodeSqlite,
  type NodeSqliteDatabase,
  type SqliteConnection,
  storeErrorFrom,
  wrapConnection,
} from './sqlite-connection.ts';

export interface SqliteAccessOptions {
  path: string | null;
  database: BetterSqlite3Database | NodeSqliteDatabase | null;
  driver: SqliteDriverChoice;
  busyTimeoutMs: number;
  wal: boolean;
}

/**
 * How the SQLite store reaches its database: its own connection (opened on first use, WAL, busy
 * timeout), `BEGIN IMMEDIATE` write transactions, reads, and the guard rails around the
 * application's own connection and transactions. Driver errors leave here as `StoreError`s that
 * say what they mean.
 */
export class SqliteAccess {
  private readonly options: SqliteAccessOptions;
  private readonly isStarted: () => boolean;
  private readonly now: () => number;
  private readonly appConnections = new WeakMap<object, SqliteConnection>();
  private db: SqliteConnection | null = null;
  private ownsConnection = true;
  /** The last write asked for (settled either way): the next one waits for it. */
  private lastWrite: Promise<unknown> = Promise.resolve();
  /**
   * How a write takes the lock (`writeSoon`, and the write batches): on this store's own connection
   * a try at a time; an application's connection keeps its own busy timeout and waits there.
   */
  readonly lock: WriteLock;

  constructor(options: SqliteAccessOptions, isStarted: () => boolean, now: () => number) {
    this.options = options;
    this.isStarted = isStarted;
    this.now = now;
    this.lock = {
      tryBegin: (db) => (this.ownsConnection ? tryBegin(db, options.busyTimeoutMs) : beginNow(db)),
      busyTimeoutMs: options.busyTimeoutMs,
    };
  }

  get isOpen(): boolean {
    return this.db !== null;
  }

  connection(): SqliteConnection {
    if (this.db !== null) return this.db;
    const { path, database, driver, busyTimeoutMs, wal } = this.options;
    if (database !== null) {
      const sibling = openSibling(database, busyTimeoutMs);
      this.ownsConnection = sibling !== null;
      this.db = sibling ?? wrapConnection(database);
    } else {
      this.db = openSqlite(path as string, driver, busyTimeoutMs);
      this.ownsConnection = true;
    }
    const db = this.db;
    try {
      db.exec(`PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`);
      if (wal && db.path !== null) db.get('PRAGMA journal_mode = WAL');
      // WAL + NORMAL: a commit survives a crash of the process; only a power loss can lose the last ones.
      db.exec('PRAGMA synchronous = NORMAL');
    } catch (error) {
      this.close();
      throw storeErrorFrom(error, 'prepare the database', db.path);
    }
    return db;
  }

  close(): void {
    if (this.db !== null && this.ownsConnection) {
      try {
        this.db.close();
      } catch {
        // Already closed by the application; nothing left to release.
      }
    }
    this.db = null;
  }

  /** The connection while it is open, even during `stop()` (when the last scheduler has already left). */
  openConnection(action: string): SqliteConnection {
    if (this.db === null) throw new SchedulerStateError(`SqliteStore cannot ${action}: it is closed`);
    return this.db;
  }

  started(action: string): SqliteConnection {
    if (this.db === null || !this.isStarted()) {
      throw new SchedulerStateError(
        `SqliteStore cannot ${action}: it is not open (not started yet, or stopped; await scheduler.ready() or scheduler.start())`,
      );
    }
    return this.db;
  }

  /**
   * One `BEGIN IMMEDIATE` transaction; driver errors become `StoreError`s that say what they mean.
   * It waits for the write lock without holding the event loop: while another connection holds
   * it, it tries again every few milliseconds (see `write-lock.ts`) until the busy timeout.
   */
  writeSoon<T>(action: string, work: (db: SqliteConnection, now: number) => T): Promise<T> {
    this.started(action); // checked as the write is asked for; it may wait for its turn past a stop()
    // The busy timeout counts from now, the writes ahead of this one included.
    const deadline = Date.now() + this.options.busyTimeoutMs;
    // One after the other, in the order asked for: one waiting for the lock must not be overtaken.
    const write = this.lastWrite.then(() => this.writeInTurn(action, work, deadline));
    this.lastWrite = write.catch(() => undefined);
    return write;
  }

  /** Resolves once every write asked for so far has ended. */
  async writesDone(): Promise<void> {
    await this.lastWrite;
  }

  private async writeInTurn<T>(
    action: string,
    work: (db: SqliteConnection, now: number) => T,
    deadline: number,
  ): Promise<T> {
    for (let pause = 1; ; pause = nextPause(pause)) {
      const written = this.transaction(action, work, this.lock.tryBegin);
      if (written !== null) return written.value;
      if (Date.now() >= deadline) {
        throw storeErrorFrom(busyError(), action, this.openConnection(action).path);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** Runs `work` in a transaction that `begin` starts; null if `begin` could not take the lock yet. */
  private transaction<T>(
    action: string,
    work: (db: SqliteConnection, now: number) => T,
    begin: (db: SqliteConnection) => boolean,
  ): { value: T } | null {
    const db = this.openConnection(action);
    this.refuseOpenApplicationTransaction(db, action);
    let began = false;
    try {
      began = begin(db);
      if (!began) return null;
      const result = work(db, this.now());
      db.exec('COMMIT');
      return { value: result };
    } catch (error) {
      // Roll back only our own transaction, never one the application has open on a shared connection.
      if (began && db.inTransaction()) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // The rollback failing too leaves nothing more to undo here.
        }
      }
      if (error instanceof KairosError) throw error;
      throw storeErrorFrom(error, action, db.path);
    }
  }

  /**
   * A write while the application's connection holds a transaction open across an `await` would
   * wait for a lock only the application can release: on a shared connection it would even run
   * inside the application's transaction. Refused with the reason instead.
   */
  private refuseOpenApplicationTransaction(db: SqliteConnection, action: string): void {
    const app = this.options.database;
    if (app === null) return;
    const appConnection = this.appConnection(app);
    if (!appConnection.inTransaction()) return;
    throw new StoreError(
      `SqliteStore: could not ${action}: the application's connection has a transaction open, and Kairos's write would ${
        appConnection === db ? 'run inside it' : 'wait for its lock'
      }. Use addJobSync/addScheduleSync with { tx } inside the transaction, or call Kairos after it ends`,
    );
  }

  appConnection(database: BetterSqlite3Database | NodeSqliteDatabase): SqliteConnection {
    let connection = this.appConnections.get(database);
    if (connection === undefined) {
      connection = wrapConnection(database);
      this.appConnections.set(database, connection);
    }
    return connection;
  }

  read<T>(action: string, work: (db: SqliteConnection) => T): T {
    const db = this.started(action);
    try {
      return work(db);
    } catch (error) {
      if (error instanceof KairosError) throw error;
      throw storeErrorFrom(error, action, db.path);
    }
  }

  /** The application's connection, checked to be inside a transaction on this store's database. */
  transactionOf(tx: unknown): SqliteConnection {
    const db = this.started('write in an application transaction');
    const connection = this.appConnection(assertTransactionHandle(tx));
    if (!connection.inTransaction()) {
      throw new ValidationError(
        'tx',
        'a connection outside a transaction',
        'must be inside an open transaction: better-sqlite3 and node:sqlite transactions are synchronous, so call addJobSync/addScheduleSync inside db.transaction(() => { ... })',
      );
    }
    if (connection.path !== db.path && connection !== db) {
      throw new ValidationError(
        'tx',
        connection.path ?? ':memory:',
        `must be a connection to this store's database (${db.path ?? ':memory:'})`,
      );
    }
    return connection;
  }
}

function assertTransactionHandle(tx: unknown): BetterSqlite3Database | NodeSqliteDatabase {
  if (isBetterSqlite3(tx) || isNodeSqlite(tx)) return tx;
  throw new ValidationError(
    'tx',
    tx,
    "must be the application's better-sqlite3 Database or node:sqlite DatabaseSync (inside a transaction)",
  );
}
