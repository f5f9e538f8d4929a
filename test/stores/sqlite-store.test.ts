import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { SqliteStore } from '../../src/sqlite.ts';
import { startOnVirtualClock } from './conformance/harness.ts';
import { storeConformance } from './conformance/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'kairos-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

for (const driver of ['better-sqlite3', 'node:sqlite'] as const) {
  describe(`SqliteStore (${driver})`, () => {
    storeConformance(() => startOnVirtualClock(new SqliteStore({ path: join(dir, `store-${++files}.db`), driver })));
  });
}
