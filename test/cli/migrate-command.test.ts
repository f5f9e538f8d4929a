import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from '../stores/postgres/pg-test-database.ts';
import { tempDatabases } from '../stores/sqlite/sqlite-test-files.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const files = tempDatabases('migrate-cli');
afterAll(() => files.cleanup());
const kairos = (...args: string[]) =>
  spawnSync(process.execPath, ['--conditions=kairos-source', 'src/cli/main.ts', 'migrate', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });

describe('kairos migrate', () => {
  it('creates the tables, then reports the database up to date', () => {
    const path = files.path('fresh.db');
    const first = kairos('--sqlite', path, '--prefix', 'app_jobs_');
    expect(first.stdout).toBe(`${path}: applied migration(s) 1, 2; schema version 2\n`);
    expect(first.status).toBe(0);
    expect(kairos('--sqlite', path, '--prefix', 'app_jobs_').stdout).toBe(`${path}: up to date (schema version 2)\n`);
    const Database = createRequire(import.meta.url)('better-sqlite3');
    const db = new Database(path);
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((row: { name: string }) => row.name);
    db.close();
    expect(tables).toEqual([
      'app_jobs_executions',
      'app_jobs_jobs',
      'app_jobs_meta',
      'app_jobs_nodes',
      'app_jobs_schedules',
    ]);
  });

  it('migrates a PostgreSQL schema, then reports it up to date', async () => {
    const schema = freshSchema('cli');
    try {
      expect(kairos('--postgres', TEST_DATABASE_URL, '--schema', schema).stdout).toBe(
        `schema ${schema}: applied migration(s) 1, 2, 3, 4, 5; version 5\n`,
      );
      expect(kairos('--postgres', TEST_DATABASE_URL, '--schema', schema).stdout).toBe(
        `schema ${schema}: up to date (version 5)\n`,
      );
      // pg would read an empty URL as "as the environment says" (PGHOST, PGDATABASE): refused instead.
      const empty = spawnSync(
        process.execPath,
        ['--conditions=kairos-source', 'src/cli/main.ts', 'migrate', '--postgres', ''],
        {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, PGHOST: '127.0.0.1', PGUSER: 'postgres', PGDATABASE: 'test' },
        },
      );
      expect(empty.stdout).toBe('');
      expect(empty.status).toBe(2);
      expect(empty.stderr).toMatch(/--postgres.*must be a postgres:\/\/ URL/);
      // Nor is a word that is no URL, which pg would resolve against a host of its own ("base").
      const word = kairos('--postgres', 'mydb');
      expect([word.status, word.stdout]).toEqual([2, '']);
      expect(word.stderr).toMatch(/--postgres: "mydb" must be a postgres:\/\/ URL/);
      const keyValues = kairos('--postgres', 'host=db password=hunter2');
      expect(keyValues.status).toBe(2);
      expect(keyValues.stderr).not.toMatch(/hunter2/);
      // A schema PostgreSQL keeps for its own (pg_...) is refused before connecting.
      const reserved = kairos('--postgres', TEST_DATABASE_URL, '--schema', 'pg_kairos');
      expect(reserved.status).toBe(2);
      expect(reserved.stderr).toMatch(/not beginning with pg_/);
      const refused = kairos('--postgres', 'postgres://postgres@127.0.0.1:1/test');
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/the database is unreachable/);
    } finally {
      await dropSchemas([schema]);
    }
  });

  it('fails with a clear message on a file that is not a database, and on bad usage', () => {
    const path = files.path('not-a-db.db');
    writeFileSync(path, 'hello\n'.repeat(100));
    const result = kairos('--sqlite', path);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/is not a SQLite database, or it is corrupt/);
    const usage = kairos();
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/--sqlite kairos\.db/);
    expect(kairos('--sqlite', path, '--prefix', '1bad').status).toBe(2);
    // An option of the other database's is refused, not ignored.
    const schemaWithSqlite = kairos('--sqlite', path, '--schema', 'kairos');
    expect(schemaWithSqlite.status).toBe(2);
    expect(schemaWithSqlite.stderr).toMatch(/--schema goes with --postgres only/);
    const sqliteOptionsWithPostgres = kairos('--postgres', TEST_DATABASE_URL, '--prefix', 'x_', '--driver', 'auto');
    expect(sqliteOptionsWithPostgres.status).toBe(2);
    expect(sqliteOptionsWithPostgres.stderr).toMatch(/--prefix, --driver goes with --sqlite only/);
  });
});
