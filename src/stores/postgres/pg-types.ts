/**
 * The part of `pg` (node-postgres) Kairos uses, declared structurally so `pg` stays an optional
 * peer dependency: the application installs it and passes its pool, or Kairos loads it on demand.
 */
export interface PgQueryResult<Row> {
  rows: Row[];
  rowCount: number | null;
}

/** Anything that runs a query: a `pg.Pool`, a `pg.Client`, a `PoolClient` inside `BEGIN`. */
export interface PgQueryable {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<PgQueryResult<Row>>;
}

/**
 * A query as `pg` also takes it, in one object: a `name` makes it a prepared statement (parsed and
 * planned once per connection), `types` parses its results, and after `query_timeout` ms
 * node-postgres fails it (and a pool then drops its connection).
 */
export interface PgQueryConfig {
  text: string;
  name?: string;
  types?: PgTypeParsers;
  query_timeout?: number;
}

/** `pg`'s query call with a `PgQueryConfig`, which its pools and clients all take. */
export interface PgConfigQueryable {
  query<Row>(config: PgQueryConfig, values?: unknown[]): Promise<PgQueryResult<Row>>;
}

export interface PgPoolClient extends PgQueryable {
  release(error?: Error | boolean): void;
  /** (A `pg` PoolClient has these: it is an EventEmitter.) */
  on?(event: 'error', listener: (error: Error) => void): unknown;
  removeListener?(event: 'error', listener: (error: Error) => void): unknown;
}

export interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** A dedicated connection for LISTEN. */
export interface PgClient extends PgQueryable {
  connect(): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
}

/** The connection settings Kairos gives the pools and clients it makes. */
export interface PgConnectionConfig {
  connectionString?: string;
  application_name?: string;
  keepAlive?: boolean;
  keepAliveInitialDelayMillis?: number;
  connectionTimeoutMillis?: number;
  statement_timeout?: number;
}

/** A `pg` Pool's settings, as far as Kairos sets them. */
export type PgPoolConfig = PgConnectionConfig & { max?: number; min?: number; idleTimeoutMillis?: number };

export interface PgModule {
  Pool: new (config: PgPoolConfig) => PgPool;
  Client: new (config: PgConnectionConfig) => PgClient;
  types: PgTypeParsers;
}

export function isQueryable(value: unknown): value is PgQueryable {
  return typeof value === 'object' && value !== null && typeof (value as PgQueryable).query === 'function';
}

/** What node-postgres takes as a query's `types` (and keeps as its global registry): the parser of each result column's type. */
export interface PgTypeParsers {
  getTypeParser(oid: number, format?: string): (text: string) => unknown;
}
