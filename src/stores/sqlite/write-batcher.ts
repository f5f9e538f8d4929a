import { KairosError } from '../../errors.ts';
import { type SqliteConnection, storeErrorFrom } from './sqlite-connection.ts';
import { beginNow, busyError, nextPause, type WriteLock } from './write-lock.ts';

interface Pending {
  work: (db: SqliteConnection) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 500;

/**
 * Groups writes made in the same turn of the event loop into one transaction. A commit writes
 * every page it touched to the WAL, so a job release alone (an execution row, a job row, and
 * their indexes) costs a dozen page writes; a hundred releases in one commit share them. Each
 * write keeps its own atomicity through a savepoint: one failing write is undone alone.
 */
export class WriteBatcher {
  private readonly db: () => SqliteConnection;
  private readonly action: string;
  private readonly lock: WriteLock;
  private queue: Pending[] = [];
  private scheduled = false;
  /** Another connection holds the write lock: since when, the next pause, and the timer of the next try. */
  private busySince: number | null = null;
  private pauseMs = 1;
  private retry: NodeJS.Timeout | null = null;

  constructor(db: () => SqliteConnection, action: string, lock: WriteLock) {
    this.db = db;
    this.action = action;
    this.lock = lock;
  }

  write<T>(work: (db: SqliteConnection) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.retry !== null) return; // waiting for the lock: the next try takes this one too
      if (this.queue.length >= MAX_BATCH) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Writes everything queued now. `final` (the connection closes next): waits for the write lock
   * here, synchronously, rather than trying again later.
   */
  flush(final = false): void {
    this.scheduled = false;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    const batch = this.queue;
    this.queue = [];
    if (batch.length > 0) this.commit(batch, final);
  }

  private commit(batch: Pending[], final: boolean): void {
    let db: SqliteConnection;
    try {
      db = this.db();
      if (!(final ? beginNow(db) : this.lock.tryBegin(db))) {
        // Another connection holds the write lock: try again in a moment, leaving the event loop
        // free. The batch goes back first in line, so the order of writes is kept.
        this.busySince ??= Date.now();
        if (Date.now() - this.busySince < this.lock.busyTimeoutMs) {
          this.queue = [...batch, ...this.queue];
          this.retry = setTimeout(() => this.flush(), this.pauseMs);
          this.pauseMs = nextPause(this.pauseMs);
          return;
        }
        throw busyError();
      }
      this.busySince = null;
      this.pauseMs = 1;
    } catch (error) {
      this.busySince = null;
      this.pauseMs = 1;
      for (const item of batch) item.reject(this.wrap(error, null));
      return;
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    for (const [index, item] of batch.entries()) {
      try {
        db.exec('SAVEPOINT kairos_write');
        const value = item.work(db);
        db.exec('RELEASE kairos_write');
        outcomes.push({ ok: true, value });
      } catch (error) {
        if (!db.inTransaction()) {
          // Some errors (SQLITE_FULL, SQLITE_IOERR) end the whole transaction: everything before
          // this item was rolled back too. Fail this one and write the others again.
          item.reject(this.wrap(error, db.path));
          this.commit([...batch.slice(0, index), ...batch.slice(index + 1)], final);
          return;
        }
        try {
          db.exec('ROLLBACK TO kairos_write');
          db.exec('RELEASE kairos_write');
        } catch {
          // The transaction is gone; the commit below fails and reports it for everyone.
        }
        outcomes.push({ ok: false, error });
      }
    }
    try {
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction()) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // Nothing more to undo.
        }
      }
      for (const item of batch) item.reject(this.wrap(error, db.path));
      return;
    }
    batch.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(this.wrap(outcome?.error, db.path));
    });
  }

  private wrap(error: unknown, path: string | null): unknown {
    return error instanceof KairosError ? error : storeErrorFrom(error, this.action, path);
  }
}
