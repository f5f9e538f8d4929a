import { createRequire } from 'node:module';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { SchedulerStateError, ValidationError } from '../../../src/errors.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { SqliteStore } from '../../../src/sqlite.ts';
import type { BetterSqlite3Database } from '../../../src/stores/sqlite/sqlite-connection.ts';
import { interval } from '../../../src/triggers/index.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { tempDatabases } from './sqlite-test-files.ts';

const files = tempDatabases('transactions');
afterAll(() => files.cleanup());
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as new (
  path: string,
) => BetterSqlite3Database & {
  transaction<T>(fn: () => T): () => T;
};
let counter = 0;

/** The classic case: create a data set and enqueue its processing, atomically, in the app's own database. */
async function appWithScheduler(kind: 'better-sqlite3' | 'node:sqlite') {
  const path = files.path(`app-${++counter}.db`);
  const db = kind === 'better-sqlite3' ? new BetterSqlite3(path) : new DatabaseSync(path);
  db.exec('CREATE TABLE datasets (id TEXT PRIMARY KEY, rows INTEGER NOT NULL)');
  const scheduler = new Scheduler({ store: new SqliteStore({ database: db }), logger: silentLogger });
  const processed: string[] = [];
  scheduler.task('process-dataset', (_ctx, args: { setId: string }) => {
    processed.push(args.setId);
  });
  await scheduler.ready();
  /** The app's transaction: better-sqlite3's helper, or BEGIN/COMMIT for node:sqlite. */
  const transaction = (work: () => void) => {
    if ('transaction' in db && typeof db.transaction === 'function') return db.transaction(work)();
    db.exec('BEGIN');
    try {
      work();
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  };
  const createDataset = (setId: string, fail: boolean) =>
    transaction(() => {
      db.prepare('INSERT INTO datasets (id, rows) VALUES (?, ?)').run(setId, 42);
      scheduler.addJobSync('process-dataset', { args: { setId }, tx: db });
      if (fail) throw new Error('validation failed after the insert');
    });
  const jobsFor = async (setId: string) =>
    (await scheduler.getJobs()).items.filter((job) => (job.args as { setId: string }).setId === setId);
  const executed = () =>
    new Promise<string>((resolve) => {
      const off = scheduler.on('job.succeeded', (event) => {
        off();
        resolve((event.execution.args as { setId: string }).setId);
      });
    });
  return { db, scheduler, processed, createDataset, jobsFor, executed };
}

for (const kind of ['better-sqlite3', 'node:sqlite'] as const) {
  describe(`transactional enqueue on the application's ${kind} connection`, () => {
    it('commits: the job exists and starts at once', async () => {
      const app = await appWithScheduler(kind);
      await app.scheduler.start();
      const done = app.executed();
      const before = Date.now();
      app.createDataset('ds-1', false);
      expect(await done).toBe('ds-1');
      // Woken by the commit itself (checked right after the transaction), not by a poll.
      expect(Date.now() - before).toBeLessThan(5000);
      expect(app.processed).toEqual(['ds-1']);
      await app.scheduler.stop();
      app.db.close();
    });

    it('rolls back: neither the data set nor the job ever existed', async () => {
      const app = await appWithScheduler(kind);
      const seen: string[] = [];
      app.scheduler.on('job.added', (event) => seen.push(event.jobId));
      expect(() => app.createDataset('ds-2', true)).toThrow('validation failed');
      expect(app.db.prepare('SELECT count(*) AS n FROM datasets').get()).toMatchObject({ n: 0 });
      expect(await app.jobsFor('ds-2')).toEqual([]);
      expect(seen).toEqual([]);
      await app.scheduler.stop();
      app.db.close();
    });

    it('refuses a write outside a transaction, with a message that says what to do', async () => {
      const app = await appWithScheduler(kind);
      expect(() => app.scheduler.addJobSync('process-dataset', { args: { setId: 'x' }, tx: app.db })).toThrow(
        /inside an open transaction.*db\.transaction/,
      );
      // The async form cannot be inside a synchronous transaction: by the time it writes, the
      // transaction is over, so it is refused the same way instead of silently writing outside it.
      await expect(
        app.scheduler.addJob('process-dataset', { args: { setId: 'y' }, tx: app.db }),
      ).rejects.toBeInstanceOf(ValidationError);
      expect(await app.jobsFor('x')).toEqual([]);
      await app.scheduler.stop();
      app.db.close();
    });
  });
}

describe('transactional enqueue, guard rails', () => {
  it('adds a schedule on the application transaction', async () => {
    const app = await appWithScheduler('better-sqlite3');
    (app.db as unknown as { transaction(fn: () => void): () => void }).transaction(() => {
      app.scheduler.addScheduleSync('process-dataset', interval({ minutes: 5 }), {
        id: 'poll',
        args: { setId: 'all' },
        tx: app.db,
      });
    })();
    expect((await app.scheduler.getSchedule('poll'))?.args).toEqual({ setId: 'all' });
    await app.scheduler.stop();
    app.db.close();
  });

  it('needs the store opened first, and a SQLite store', async () => {
    const db = new BetterSqlite3(files.path(`guard-${++counter}.db`));
    const scheduler = new Scheduler({ store: new SqliteStore({ database: db }), logger: silentLogger });
    scheduler.task('t', () => {});
    expect(() => scheduler.addJobSync('t', { tx: db })).toThrow(/await scheduler\.ready\(\)/);
    const memory = new Scheduler({ logger: silentLogger });
    memory.task('t', () => {});
    expect(() => memory.addJobSync('t', { tx: db })).toThrow(SchedulerStateError);
    await scheduler.ready();
    const other = new BetterSqlite3(files.path(`other-${++counter}.db`)) as BetterSqlite3Database & {
      transaction(fn: () => void): () => void;
    };
    expect(() => other.transaction(() => scheduler.addJobSync('t', { tx: other }))()).toThrow(/this store's database/);
    expect(() => scheduler.addJobSync('t', { tx: { not: 'a connection' } })).toThrow(ValidationError);
    await scheduler.stop();
    db.close();
    other.close();
  });
});
