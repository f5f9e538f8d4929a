// `kairos/sqlite`: the SQLite store. The driver (better-sqlite3, or Node's built-in node:sqlite)
// is the application's choice; neither is a dependency of Kairos.
export { SqliteStore, type SqliteStoreOptions } from './stores/sqlite/sqlite-store.ts';
export type { SqliteDriverChoice } from './stores/sqlite/open-sqlite.ts';
export type { BetterSqlite3Database, NodeSqliteDatabase } from './stores/sqlite/sqlite-connection.ts';
export { SCHEMA_VERSION as SQLITE_SCHEMA_VERSION } from './stores/sqlite/sqlite-migrations.ts';
