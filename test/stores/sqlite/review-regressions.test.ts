import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { SchedulerStateError, StoreError } from '../../../src/errors.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { SqliteStore } from '../../../src/sqlite.ts';
import type { BetterSqlite3Database } from '../../../src/stores/sqlite/sqlite-connection.ts';
import { wrapConnection } from '../../../src/stores/sqlite/sqlite-connection.ts';
import { WriteBatcher } from '../../../src/stores/sqlite/write-batcher.ts';
import { createTestScheduler } from '../../../src/testing/index.ts';
import { tempDatabases } from './sqlite-test-files.ts';

type Database = BetterSqlite3Database & { pragma(sql: string): unknown };
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => Database;
const files = tempDatabases('regressions');
afterAll(() => files.cleanup());

describe('SqliteStore edge cases found in review', () => {
  it("never rolls back or writes into the application's open transaction on a shared connection", async () => {
    const db = new BetterSqlite3(':memory:'); // in memory: Kairos shares the application's connection
    db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY)');
    const scheduler = new Scheduler({ store: new SqliteStore({ database: db }), logger: silentLogger });
    scheduler.task('t', () => {});
    await scheduler.ready();
    db.exec('BEGIN');
    db.exec('INSERT INTO accounts (id) VALUES (1)');
    await expect(scheduler.addJob('t')).rejects.toThrow(/application's connection has a transaction open/);
    db.exec('COMMIT');
    expect(db.prepare('SELECT count(*) AS n FROM accounts').get()).toEqual({ n: 1 });
    await scheduler.stop();
  });

  it('a write that ends the whole batch transaction (disk full) fails alone; the others are written', () => {
    const db = new BetterSqlite3(':memory:');
    db.exec('CREATE TABLE t (v TEXT)');
    const pages = (db.pragma('page_count') as Array<{ page_count: number }>)[0]?.page_count ?? 0;
    db.pragma(`max_page_count = ${pages + 2}`);
    const connection = wrapConnection(db);
    const batcher = new WriteBatcher(() => connection, 'write', {
      tryBegin: (c) => {
        c.exec('BEGIN IMMEDIATE');
        return true;
      },
      busyTimeoutMs: 5000,
    });
    const small = batcher.write((c) => c.run('INSERT INTO t (v) VALUES (?)', 'a'));
    const huge = batcher.write((c) => c.run('INSERT INTO t (v) VALUES (?)', 'x'.repeat(100_000)));
    const after = batcher.write((c) => c.run('INSERT INTO t (v) VALUES (?)', 'b'));
    batcher.flush();
    return Promise.allSettled([small, huge, after]).then((results) => {
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/is full/);
      expect(db.prepare('SELECT v FROM t ORDER BY v').all()).toEqual([{ v: 'a' }, { v: 'b' }]);
    });
  });

  it('records runs still queued for writing when the scheduler stops at once', async () => {
    const path = files.path('stop.db');
    const scheduler = new Scheduler({ store: new SqliteStore({ path }), logger: silentLogger });
    scheduler.task('t', () => {});
    await scheduler.addJob('t', { runAt: new Date(Date.now() - 60_000), misfireGraceTime: '1s' });
    await scheduler.start();
    await scheduler.stop();
    const reader = new Scheduler({ store: new SqliteStore({ path }), logger: silentLogger });
    expect((await reader.getExecutions()).items.map((e) => e.outcome)).toEqual(['missed']);
    expect((await reader.getJobs()).items).toEqual([]);
    await reader.stop();
  });

  it('accepts fractional durations (stored as whole milliseconds)', async () => {
    const s = createTestScheduler({
      now: '2030-01-07T00:00:00Z',
      store: new SqliteStore({ path: files.path('fraction.db') }),
      leaseDuration: 1500.5,
    });
    s.task('t', () => 'ok');
    await s.addSchedule('t', '* * * * *', { id: 'x', misfireGraceTime: 1500.5, maxJitter: 0.4 });
    await s.start();
    await s.advance('1m');
    expect((await s.history()).map((e) => e.outcome)).toEqual(['succeeded', 'succeeded']);
    expect((await s.getSchedule('x'))?.misfireGraceTime).toBe(1501);
    await s.stop();
  });

  it('stops waiting in runJob when the scheduler stops, instead of keeping the process alive', async () => {
    const scheduler = new Scheduler({
      store: new SqliteStore({ path: files.path('runjob.db') }),
      logger: silentLogger,
    });
    scheduler.task('t', () => {});
    const waiting = scheduler.runJob('t').catch((error: unknown) => error); // nobody started: it would wait for ever
    await new Promise((resolve) => setTimeout(resolve, 50));
    await scheduler.stop();
    expect(await waiting).toBeInstanceOf(SchedulerStateError);
  });

  it('reports a duplicate job id as a ValidationError, like every store', async () => {
    const scheduler = new Scheduler({ store: new SqliteStore({ path: files.path('dup.db') }), logger: silentLogger });
    scheduler.task('t', () => {});
    await scheduler.addJob('t', { id: 'same', runAt: new Date(Date.now() + 3_600_000) });
    await expect(scheduler.addJob('t', { id: 'same' })).rejects.toThrow(/job id: "same" is already used/);
    await expect(scheduler.addJob('t', { id: 'same' })).rejects.not.toBeInstanceOf(StoreError);
    await scheduler.stop();
  });
});
