import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { SchemaTooNewError, StoreError } from '../../../src/errors.ts';
import type { KairosEvent } from '../../../src/events/event-types.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { SqliteStore } from '../../../src/sqlite.ts';
import type { BetterSqlite3Database } from '../../../src/stores/sqlite/sqlite-connection.ts';
import { createTestScheduler } from '../../../src/testing/index.ts';
import { interval } from '../../../src/triggers/index.ts';
import { tempDatabases } from './sqlite-test-files.ts';
import { until as waitUntil } from '../../support/child-node.ts';

const files = tempDatabases('faults');
afterAll(() => files.cleanup());
type Database = BetterSqlite3Database & { pragma(sql: string): unknown };
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => Database;
let counter = 0;
const fresh = () => files.path(`db-${++counter}.db`);

function scheduler(store: SqliteStore): Scheduler {
  const s = new Scheduler({ store, logger: silentLogger, pollInterval: '100ms' });
  s.task('tick', () => 'ok');
  return s;
}

/** The shared wait, with this file's deadline (10 s) and poll period (20 ms). */
const until = (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) =>
  waitUntil(check, what, timeoutMs, 20);

describe('SqliteStore faults give clear errors and lose nothing', () => {
  it('a file that is not a database', async () => {
    const path = fresh();
    writeFileSync(path, 'this is a text file, not SQLite\n'.repeat(200));
    const s = scheduler(new SqliteStore({ path }));
    await expect(s.ready()).rejects.toThrow(StoreError);
    await expect(s.ready()).rejects.toThrow(/is not a SQLite database, or it is corrupt/);
  });

  it('tables of another application under our prefix', async () => {
    const path = fresh();
    const db = new BetterSqlite3(path);
    db.exec(
      "CREATE TABLE kairos_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO kairos_meta VALUES ('owner', 'someone else')",
    );
    db.close();
    await expect(scheduler(new SqliteStore({ path })).ready()).rejects.toThrow(
      /not made by Kairos; choose another tablePrefix/,
    );
    // A table of ours by name, but no meta table of ours: the same message, naming it.
    const second = fresh();
    const app = new BetterSqlite3(second);
    app.exec('CREATE TABLE kairos_jobs (id TEXT)');
    app.close();
    await expect(scheduler(new SqliteStore({ path: second })).ready()).rejects.toThrow(
      /table kairos_jobs exists but was not made by Kairos; choose another tablePrefix/,
    );
    // Another prefix works beside them.
    const other = scheduler(new SqliteStore({ path, tablePrefix: 'jobs_' }));
    await other.ready();
    await other.stop();
  });

  it('a schema newer than this code', async () => {
    const path = fresh();
    const first = scheduler(new SqliteStore({ path }));
    await first.ready();
    await first.stop();
    const db = new BetterSqlite3(path);
    db.exec("UPDATE kairos_meta SET value = '99' WHERE key = 'version'");
    db.close();
    const refused = await scheduler(new SqliteStore({ path }))
      .ready()
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SchemaTooNewError);
    expect(refused).toMatchObject({ code: 'SCHEMA_TOO_NEW', schemaVersion: 99 });
    expect(String(refused)).toMatch(/schema is version 99, newer than this Kairos knows/);
  });

  it('a locked database: the operation fails clearly, the scheduler survives and carries on', async () => {
    const path = fresh();
    const s = scheduler(new SqliteStore({ path, busyTimeout: 50 }));
    const errors: KairosEvent[] = [];
    s.on('scheduler.error', (event) => errors.push(event));
    await s.start();
    const blocker = new BetterSqlite3(path);
    blocker.exec('BEGIN EXCLUSIVE');
    await expect(s.addJob('tick')).rejects.toThrow(/stayed locked by another connection beyond the busy timeout/);
    await until(() => errors.length > 0, 'the scheduler reports the locked store');
    blocker.exec('ROLLBACK');
    blocker.close();
    const id = await s.addJob('tick');
    await until(
      async () => (await s.getExecutions({ jobId: id })).items.length === 1,
      'the job runs after the lock is gone',
    );
    expect(s.state).toBe('running');
    await s.stop();
  });

  it('another connection holding the write lock does not freeze the process: writes wait for it asynchronously', async () => {
    // SQLite waits for a lock synchronously. Here only a timer of this process releases it: were the
    // event loop frozen while Kairos waits, the timer could not fire before the busy timeout, and
    // the write would fail (an add rejected; a run's record retried, reported as an error).
    const path = fresh();
    const s = scheduler(new SqliteStore({ path, busyTimeout: '3s' }));
    const errors: KairosEvent[] = [];
    s.on('scheduler.error', (event) => errors.push(event));
    const blocker = new BetterSqlite3(path);
    let released = 0;
    const lockFor50ms = () => {
      blocker.exec('BEGIN IMMEDIATE');
      setTimeout(() => {
        blocker.exec('ROLLBACK');
        released++;
      }, 50);
    };
    // The run's record is written right after the task returns, while the task's lock is held.
    s.task('locks', () => lockFor50ms());
    try {
      await s.start();
      lockFor50ms();
      await s.addJob('tick');
      expect(released).toBe(1);
      await s.runJob('locks');
      expect(released).toBe(2);
      expect(errors).toEqual([]);
    } finally {
      blocker.close();
      await s.stop();
    }
  });

  it('writes that wait for the lock keep their order, and those asked for before stop() are made', async () => {
    const path = fresh();
    const s = scheduler(new SqliteStore({ path, busyTimeout: '3s' }));
    const blocker = new BetterSqlite3(path);
    const lockFor50ms = () => {
      blocker.exec('BEGIN IMMEDIATE');
      setTimeout(() => blocker.exec('ROLLBACK'), 50);
    };
    try {
      await s.start();
      lockFor50ms();
      const added = s.addJob('tick', { id: 'later', delay: '1h' }); // waits for the lock
      expect(await s.cancelJob('later')).toBe('cancelled'); // asked for after the add: applied after it
      await added;
      lockFor50ms();
      const addedBeforeStop = s.addJob('tick', { id: 'kept', delay: '1h' });
      await s.stop();
      await addedBeforeStop;
      const reader = scheduler(new SqliteStore({ path }));
      expect((await reader.getJobs()).items.map((job) => job.id)).toEqual(['kept']);
      await reader.stop();
    } finally {
      blocker.close();
      await s.stop();
    }
  });

  it('a full database: the write fails clearly and the job stays or is never half-written', async () => {
    // An in-memory database capped with max_page_count behaves exactly like a full disk (SQLITE_FULL).
    const db = new BetterSqlite3(':memory:');
    const s = scheduler(new SqliteStore({ database: db }));
    await s.ready();
    const pages = (db.pragma('page_count') as Array<{ page_count: number }>)[0]?.page_count ?? 0;
    db.pragma(`max_page_count = ${pages + 1}`);
    const big = 'x'.repeat(20_000);
    await expect(s.addJob('tick', { args: { big } })).rejects.toThrow(
      /cannot grow: the disk \(or the database's size limit\) is full/,
    );
    expect((await s.getJobs()).items).toEqual([]);
    await s.stop();
  });

  it.skipIf(process.getuid?.() !== 0)('a really full disk (a tiny tmpfs; needs root to mount)', async () => {
    const mount = files.path('tiny');
    mkdirSync(mount);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount]);
    try {
      const s = scheduler(new SqliteStore({ path: `${mount}/kairos.db` }));
      await s.ready();
      const added: string[] = [];
      let failure: unknown = null;
      for (let i = 0; i < 200 && failure === null; i++) {
        try {
          added.push(await s.addJob('tick', { args: { payload: 'y'.repeat(4_000), i } }));
        } catch (error) {
          failure = error;
        }
      }
      expect(failure).toBeInstanceOf(StoreError);
      expect(String(failure)).toMatch(/full/);
      // Every job that was acknowledged is there; nothing half-written.
      const stored = (await s.getJobs({ limit: 1000 })).items.map((job) => job.id);
      expect(stored.sort()).toEqual([...added].sort());
      await s.stop();
    } finally {
      execFileSync('umount', [mount]);
    }
  });

  it('a schedule whose stored trigger cannot be read is marked broken, kept, and the others go on', async () => {
    const path = fresh();
    const s = createTestScheduler({ now: '2030-01-07T00:00:00Z', store: new SqliteStore({ path }) });
    s.task('tick', () => {});
    await s.addSchedule('tick', interval({ minutes: 1 }), { id: 'healthy' });
    await s.addSchedule('tick', interval({ minutes: 1 }), { id: 'damaged' });
    await s.addSchedule('tick', interval({ minutes: 1 }), { id: 'wrong-trigger' });
    const db = new BetterSqlite3(path);
    db.exec(`UPDATE kairos_schedules SET trigger = '{"type": "interval", "minut' WHERE id = 'damaged'`);
    db.exec(
      `UPDATE kairos_schedules SET trigger = '{"type": "cron", "expression": "99 * * * *"}' WHERE id = 'wrong-trigger'`,
    );
    db.close();
    await s.start();
    await s.advance('3m');
    const schedules = new Map((await s.getSchedules()).items.map((schedule) => [schedule.id, schedule]));
    expect(schedules.get('damaged')?.brokenReason).toMatch(/trigger is not valid JSON/);
    expect(schedules.get('wrong-trigger')?.brokenReason).toMatch(/trigger cannot be used: cron field "minute": 99/);
    expect(schedules.get('healthy')?.brokenReason).toBeNull();
    expect((await s.history({ scheduleId: 'healthy' })).length).toBe(4);
    expect(await s.history({ scheduleId: 'damaged' })).toEqual([]);
    await s.stop();
  });
});
