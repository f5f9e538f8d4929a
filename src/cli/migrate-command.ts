import { parseArgs } from 'node:util';
import { KairosError, ValidationError } from '../errors.ts';
import { SQLITE_SCHEMA_VERSION, type SqliteDriverChoice, SqliteStore } from '../sqlite.ts';
import type { PgPool } from '../stores/postgres/pg-types.ts';
import { type CliCommand, type CliIo, ExitCode } from './cli-command.ts';

/** How long the command waits to connect to PostgreSQL. */
const CONNECT_TIMEOUT_MS = 30_000;

const HELP = `Usage: kairos migrate --sqlite PATH [--prefix kairos_] [--driver auto|better-sqlite3|node:sqlite]
       kairos migrate --postgres URL [--schema kairos]

Creates or upgrades Kairos's tables (stores also do this when they start; run it by hand to
migrate before deploying, or to check a database). Safe to run while schedulers use the file.

  --sqlite PATH    the SQLite database file
  --prefix P       table prefix (default: kairos_)
  --driver D       SQLite driver (default: auto, better-sqlite3 when installed)
  --postgres URL   the PostgreSQL database (postgres://user@host:5432/db)
  --schema S       PostgreSQL schema of Kairos's tables (default: kairos)

Exit codes: 0 ok, 1 the database could not be migrated (message on stderr), 2 bad usage.
`;

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'create or upgrade the tables of a store',
  run: runMigrate,
};

async function runMigrate(args: readonly string[], io: CliIo): Promise<number> {
  let values: { sqlite?: string; prefix?: string; driver?: string; postgres?: string; schema?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        sqlite: { type: 'string' },
        prefix: { type: 'string' },
        driver: { type: 'string' },
        postgres: { type: 'string' },
        schema: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.stderr.write(`kairos migrate: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return ExitCode.usage;
  }
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  if ((values.sqlite === undefined) === (values.postgres === undefined)) {
    io.stderr.write(
      `kairos migrate: give one database, e.g. --sqlite kairos.db or --postgres postgres://...\n\n${HELP}`,
    );
    return ExitCode.usage;
  }
  // An option of the other database's is a mistake (a --schema meant for PostgreSQL, say), not something to ignore.
  const misplaced =
    values.postgres !== undefined
      ? ['prefix', 'driver'].filter((name) => values[name as 'prefix' | 'driver'] !== undefined)
      : values.schema !== undefined
        ? ['schema']
        : [];
  if (misplaced.length > 0) {
    const other = values.postgres !== undefined ? '--sqlite' : '--postgres';
    io.stderr.write(
      `kairos migrate: ${misplaced.map((name) => `--${name}`).join(', ')} goes with ${other} only\n\n${HELP}`,
    );
    return ExitCode.usage;
  }
  if (values.postgres !== undefined) return migratePostgres(values.postgres, values.schema, io);
  try {
    const store = new SqliteStore({
      path: values.sqlite,
      ...(values.prefix === undefined ? {} : { tablePrefix: values.prefix }),
      ...(values.driver === undefined ? {} : { driver: values.driver as SqliteDriverChoice }),
    });
    const applied = store.migrate();
    await store.stop();
    io.stdout.write(
      applied.length === 0
        ? `${values.sqlite}: up to date (schema version ${SQLITE_SCHEMA_VERSION})\n`
        : `${values.sqlite}: applied migration(s) ${applied.join(', ')}; schema version ${SQLITE_SCHEMA_VERSION}\n`,
    );
    return ExitCode.ok;
  } catch (error) {
    if (!(error instanceof KairosError)) throw error;
    io.stderr.write(`kairos migrate: ${error.message}\n`);
    return error.code === 'INVALID_ARGUMENT' ? ExitCode.usage : ExitCode.failure;
  }
}

async function migratePostgres(connectionString: string, schema: string | undefined, io: CliIo): Promise<number> {
  const { PostgresStore, POSTGRES_SCHEMA_VERSION } = await import('../postgres.ts');
  const { loadPg } = await import('../stores/postgres/pg-driver.ts');
  let store: InstanceType<typeof PostgresStore> | undefined;
  let pool: PgPool | undefined;
  try {
    // pg would take an empty string for "connect as the environment says" (PGHOST, PGDATABASE):
    // `--postgres "$DATABASE_URL"` with the variable unset must not migrate some other database.
    // pg also resolves a word that is no URL against one of its own (`mydb` tries the host "base").
    if (!/^postgres(ql)?:\/\//i.test(connectionString)) {
      // (Not shown if it may hold a password: a libpq "key=value" string, say.)
      const shown = /password/i.test(connectionString) ? '(a value that names a password)' : connectionString;
      throw new ValidationError('--postgres', shown, 'must be a postgres:// URL');
    }
    // A pool of its own rather than the store's: migrations wait as long as they take anyway, and
    // without a statement_timeout to send as it connects, the command also works through
    // PgBouncer, which refuses one. Connecting is still bounded.
    pool = new (loadPg().Pool)({ connectionString, max: 1, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    store = new PostgresStore({ pool, ...(schema === undefined ? {} : { schema }) });
    const applied = await store.migrate();
    io.stdout.write(
      applied.length === 0
        ? `schema ${store.schemaName}: up to date (version ${POSTGRES_SCHEMA_VERSION})\n`
        : `schema ${store.schemaName}: applied migration(s) ${applied.join(', ')}; version ${POSTGRES_SCHEMA_VERSION}\n`,
    );
    return ExitCode.ok;
  } catch (error) {
    if (!(error instanceof KairosError)) throw error;
    io.stderr.write(`kairos migrate: ${error.message}\n`);
    return error.code === 'INVALID_ARGUMENT' ? ExitCode.usage : ExitCode.failure;
  } finally {
    await store?.stop();
    await pool?.end();
  }
}
