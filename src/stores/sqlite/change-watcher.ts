import type { SqliteConnection } from './sqlite-connection.ts';

/**
 * Notices commits made by other connections to the database file (other processes, or the
 * application's own connection committing a transaction that added a job). SQLite's
 * `PRAGMA data_version` changes exactly then and costs next to nothing to read, so polling it
 * every `intervalMs` is a cheap wake-up signal; the loops then look at the tables themselves.
 */
export class ChangeWatcher {
  private readonly db: SqliteConnection;
  private readonly intervalMs: number;
  private readonly onChange: () => void;
  private readonly onError: (error: unknown) => void;
  private timer: NodeJS.Timeout | null = null;
  private version: number | null = null;

  constructor(db: SqliteConnection, intervalMs: number, onChange: () => void, onError: (error: unknown) => void) {
    this.db = db;
    this.intervalMs = intervalMs;
    this.onChange = onChange;
    this.onError = onError;
  }

  start(): void {
    this.version = this.read();
    // Real time on purpose: other processes live on the real clock, even under a test clock.
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Looks now (e.g. right after the application's transaction may have committed). */
  check(): void {
    try {
      const version = this.read();
      if (version !== this.version) {
        this.version = version;
        this.onChange();
      }
    } catch (error) {
      this.onError(error);
    }
  }

  /** Our own commits do not change our connection's data_version; only others' do. */
  private read(): number {
    return this.db.get<{ data_version: number }>('PRAGMA data_version')?.data_version ?? 0;
  }
}
