import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../src/sqlite.ts';
import type { BetterSqlite3Database } from '../../../src/stores/sqlite/sqlite-connection.ts';
import { createTestScheduler, type TestScheduler } from '../../../src/testing/index.ts';
import { interval } from '../../../src/triggers/index.ts';
import { tempDatabases } from './sqlite-test-files.ts';

const T0 = Date.parse('2030-01-07T00:00:00.000Z');
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => BetterSqlite3Database;
const files = tempDatabases('persistence');
afterAll(() => files.cleanup());
let counter = 0;

/** A scheduler process's life on a database file: same file, new store and scheduler each time. */
function boot(path: string, now: number): TestScheduler {
  const scheduler = createTestScheduler({ now, store: new SqliteStore({ path, driver: 'better-sqlite3' }) });
  scheduler.task('tick', (ctx) => ctx.fireTime?.toISOString() ?? 'one-off');
  return scheduler;
}

describe('SqliteStore persistence across restarts', () => {
  it('upgrades a version-1 database with its jobs, counting the runs of retried ones as failed', async () => {
    const path = files.path(`db-${++counter}.db`);
    const first = boot(path, T0);
    const id = await first.addJob('tick', { runAt: new Date(T0 + 3_600_000) });
    await first.stop();
    const db = new BetterSqlite3(path);
    db.exec(
      "ALTER TABLE kairos_jobs DROP COLUMN failed_runs; UPDATE kairos_meta SET value = '1' WHERE key = 'version'",
    );
    // Another job, retried twice under the old rule (every run counted against the retry limit).
    db.exec(
      `INSERT INTO kairos_jobs (id, task, args, run_at, attempt, max_attempts, abandon_retries, status, created_at)
       VALUES ('retried', 'tick', 'null', ${T0}, 3, 3, 2, 'pending', ${T0})`,
    );
    db.close();
    const store = new SqliteStore({ path, driver: 'better-sqlite3' });
    expect(store.migrate()).toEqual([2]);
    const second = createTestScheduler({ now: T0, store });
    expect((await second.getJob(id))?.failedRuns).toBe(0);
    expect((await second.getJob('retried'))?.failedRuns).toBe(2);
    await second.stop();
  });

  it('keeps schedules, pending jobs and history', async () => {
    const path = files.path(`db-${++counter}.db`);
    const first = boot(path, T0);
    await first.addSchedule('tick', interval({ minutes: 1 }), { id: 'every-minute' });
    await first.start();
    await first.advance('2m');
    await first.addJob('tick', { runAt: new Date(T0 + 3_600_000) });
    await first.stop();

    const second = boot(path, T0 + 120_000);
    expect((await second.getSchedules()).items.map((s) => s.id)).toEqual(['every-minute']);
    expect((await second.getJobs()).items.map((j) => j.runAt.getTime() - T0)).toEqual([3_600_000]);
    expect((await second.history()).map((e) => (e.fireTime?.getTime() ?? 0) - T0)).toEqual([0, 60_000, 120_000]);
    await second.start();
    await second.advance('1h');
    expect((await second.history({ task: 'tick' })).length).toBe(3 + 60 + 1);
    await second.stop();
  });

  for (const [coalesce, expected] of [
    ['latest', [[5000, 'succeeded']]],
    [
      'all',
      [
        [1000, 'succeeded'],
        [2000, 'succeeded'],
        [3000, 'succeeded'],
        [4000, 'succeeded'],
        [5000, 'succeeded'],
      ],
    ],
  ] as const) {
    it(`catches up after 5 s down, coalesce '${coalesce}'`, async () => {
      const path = files.path(`db-${++counter}.db`);
      const first = boot(path, T0);
      await first.addSchedule('tick', interval({ seconds: 1 }), { id: 's', coalesce });
      await first.start();
      await first.runDue(); // the fire at T0
      await first.stop();

      // Down for five seconds; the restarted app re-declares its schedule, as apps do.
      const second = boot(path, T0 + 5000);
      await second.addSchedule('tick', interval({ seconds: 1 }), { id: 's', coalesce });
      await second.start();
      await second.runDue();
      const history = (await second.history()).slice(1).map((e) => [(e.fireTime?.getTime() ?? 0) - T0, e.outcome]);
      expect(history).toEqual(expected);
      await second.stop();
    });
  }

  it('records fires beyond the grace time as missed after downtime', async () => {
    const path = files.path(`db-${++counter}.db`);
    const first = boot(path, T0);
    await first.addSchedule('tick', interval({ seconds: 1 }), { id: 's', coalesce: 'all', misfireGraceTime: '2s' });
    await first.start();
    await first.runDue();
    await first.stop();
    const second = boot(path, T0 + 5000);
    await second.start();
    await second.runDue();
    expect((await second.history()).slice(1).map((e) => [(e.fireTime?.getTime() ?? 0) - T0, e.outcome])).toEqual([
      [1000, 'missed'],
      [2000, 'missed'],
      [3000, 'succeeded'],
      [4000, 'succeeded'],
      [5000, 'succeeded'],
    ]);
    await second.stop();
  });

  it('updates a re-declared schedule in place and keeps its history (no duplicates on restart)', async () => {
    const path = files.path(`db-${++counter}.db`);
    for (let restart = 0; restart < 3; restart++) {
      const scheduler = boot(path, T0 + restart * 60_000);
      await scheduler.addSchedule('tick', interval({ minutes: 1 }), { id: 'report', args: { version: restart } });
      await scheduler.start();
      await scheduler.runDue();
      await scheduler.stop();
    }
    const last = boot(path, T0 + 180_000);
    const schedules = (await last.getSchedules()).items;
    expect(schedules.map((s) => [s.id, s.args])).toEqual([['report', { version: 2 }]]);
    expect((await last.history({ scheduleId: 'report' })).map((e) => (e.fireTime?.getTime() ?? 0) - T0)).toEqual([
      0, 60_000, 120_000,
    ]);
    await last.stop();
  });

  it('prunes history older than the retention by itself', async () => {
    const path = files.path(`db-${++counter}.db`);
    const scheduler = createTestScheduler({ now: T0, store: new SqliteStore({ path }), retention: '1d' });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ hours: 1 }), { id: 'hourly' });
    await scheduler.start();
    await scheduler.advance('3d');
    const history = await scheduler.history();
    // Pruned hourly: at most a day (plus the hour since the last prune) is left.
    expect(history.length).toBeGreaterThanOrEqual(24);
    expect(history.length).toBeLessThanOrEqual(26);
    expect((history[0]?.finishedAt.getTime() ?? 0) >= T0 + 2 * 86_400_000 - 3_600_000).toBe(true);
    await scheduler.stop();
  });
});
