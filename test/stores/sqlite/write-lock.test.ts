import { createRequire } from 'node:module';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { SqliteStore } from '../../../src/sqlite.ts';
import type { StoreContext } from '../../../src/stores/data-store.ts';
import type { BetterSqlite3Database } from '../../../src/stores/sqlite/sqlite-connection.ts';
import { systemClock } from '../../../src/time/clock.ts';
import { tempDatabases } from './sqlite-test-files.ts';

const files = tempDatabases('write-lock');
afterAll(() => files.cleanup());
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => BetterSqlite3Database;
let counter = 0;
const fresh = () => files.path(`db-${++counter}.db`);

/** What a scheduler gives the store when it starts, with a logger that keeps the warnings. */
function context(store: SqliteStore, warnings: unknown[] = []): StoreContext {
  return {
    events: store.defaultEventBroker(),
    clock: systemClock,
    logger: { ...silentLogger, warn: (fields: object) => void warnings.push(fields) },
    wake: () => {},
  };
}

describe('SqliteStore waiting for the write lock', () => {
  it('counts the busy timeout of each write from when it was asked for, not from its turn', async () => {
    const path = fresh();
    const store = new SqliteStore({ path, busyTimeout: '500ms' });
    const started = context(store);
    await store.start(started);
    const blocker = new BetterSqlite3(path);
    blocker.exec('BEGIN IMMEDIATE'); // held throughout: every write gives up
    try {
      const asked = Date.now();
      const ended = await Promise.all(
        [1, 2, 3, 4, 5, 6].map((n) =>
          store.removeNode(`n${n}`).then(
            () => Number.NaN,
            () => Date.now() - asked,
          ),
        ),
      );
      // Waiting their turn, the last ones would otherwise give up after 6 × 500 ms.
      expect(Math.max(...ended)).toBeLessThan(1500);
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
      await store.stop(started);
    }
  });

  it('starts one change watcher when started again while a stop waits for a write, and stops it at the end', async () => {
    const path = fresh();
    const store = new SqliteStore({ path, busyTimeout: '3s', watchInterval: '10ms' });
    const first = context(store);
    const second = context(store);
    const made = vi.spyOn(globalThis, 'setInterval');
    const cleared = vi.spyOn(globalThis, 'clearInterval');
    const blocker = new BetterSqlite3(path);
    try {
      await store.start(first);
      blocker.exec('BEGIN IMMEDIATE');
      const waiting = store.removeNode('x'); // waits for the lock
      const stopping = store.stop(first); // waits for that write
      blocker.exec('ROLLBACK');
      await store.start(second); // meanwhile: the store is in use again
      await stopping;
      await waiting;
      await store.stop(second);
      expect(made.mock.calls.length).toBe(cleared.mock.calls.length);
    } finally {
      made.mockRestore();
      cleared.mockRestore();
      blocker.close();
    }
  });

  it('refuses a file with a table of ours by name in any letter case, as not made by Kairos', async () => {
    const path = fresh();
    const app = new BetterSqlite3(path);
    app.exec('CREATE TABLE KAIROS_JOBS (x)');
    app.close();
    const store = new SqliteStore({ path });
    await expect(store.start(context(store))).rejects.toThrow(/KAIROS_JOBS|kairos_jobs.*not made by Kairos/);
  });
});
