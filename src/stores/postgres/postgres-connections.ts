import type { Logger } from '../../common/logger.ts';
import { ValidationError } from '../../errors.ts';
import {
  checkDateStyle,
  checkAutovacuum,
  checkIsolation,
  ownPoolConfig,
  readSessionSettings,
  safeStatementLimit,
} from './pg-connection-settings.ts';
import { listenClient, loadPg, poolConnectionSettings } from './pg-driver.ts';
import { isQueryTimeout, pgStoreError, refusedStartupSetting } from './pg-errors.ts';
import { kairosTypeParsers } from './pg-result-types.ts';
import {
  isQueryable,
  type PgClient,
  type PgPool,
  type PgPoolConfig,
  type PgPoolClient,
  type PgQueryConfig,
} from './pg-types.ts';
import { isStaleStatement, kairosPool, STALE_STATEMENT_TRIES, StatementNames } from './prepared-statements.ts';

export interface PostgresConnectionOptions {
  connectionString?: string | undefined;
  pool?: PgPool | undefined;
  listenConnectionString?: string | undefined;
  poolSize?: number | undefined;
  preparedStatements?: boolean | undefined;
  /** `queryTimeout` as asked for (null: none, or too long for a timer). */
  queryTimeoutMs: number | null;
  schemaName: string;
  /** The store's logger when it is needed: it becomes the scheduler's once one starts. */
  logger: () => Logger;
}

/**
 * The connections of a `PostgresStore`: the application's pool, or one of its own made from a
 * connection string (and made again after a stop ended it, or without a setting a pooler refused);
 * the ways Kairos sends its statements on it (named or not, within a time limit or not); its
 * transactions; and the LISTEN connection's settings.
 */
export class PostgresConnections {
  /** Sends named statements unless told otherwise, within the store's time limit. */
  readonly prepared: PgPool;
  /** The same, never named: a test clock puts changing literals in the SQL. */
  readonly plain: PgPool;
  /** Without a limit: migrations (an index over a large table takes as long as it takes), and reading settings before the limit is known to be safe. */
  readonly untimed: PgPool;
  private pool: PgPool;
  /** Makes the store's own pool (given a connection string); null when the application gave its pool. */
  private readonly makePool: (() => PgPool) | null;
  private poolEnded = false;
  /** The lease renewals' connection (see `leaseLane`), made on first use and again after `end`. */
  private leasePool: PgPool | null = null;
  /** Makes it, given how long its connect may take; null: the application's pool has no settings to copy. */
  private readonly makeLeasePool: ((connectMs: number) => PgPool) | null;
  /** How long a renewal may take, which its connection's connect may too (see `leaseLane`). */
  private leaseConnectMs = 0;
  /**
   * Whether the store's own pool sends a `statement_timeout` as its connections start; turned off
   * for good once a pooler refuses it (see `refusedTimeoutAside`).
   */
  private sendStatementTimeout = true;
  private readonly queryTimeoutMs: number | null;
  /** The limit statements are sent with: on the store's own pool from the start, on the application's once it is known to be safe. */
  private readonly statementLimit: { timeoutMs: number | null };
  private readonly withLimit: (named: boolean, limit: { timeoutMs: number | null }, target?: PgPool) => PgPool;
  /** The lease renewals' connection, made again as the pool is (see `live` in the constructor). */
  private readonly leases: PgPool;
  private readonly listenAt: string | undefined;
  private readonly schemaName: string;
  private readonly logger: () => Logger;

  constructor(options: PostgresConnectionOptions) {
    const { queryTimeoutMs } = options;
    this.queryTimeoutMs = queryTimeoutMs;
    this.schemaName = options.schemaName;
    this.logger = options.logger;
    const { listenConnectionString } = options;
    if (
      listenConnectionString !== undefined &&
      (typeof listenConnectionString !== 'string' || listenConnectionString.length === 0)
    ) {
      throw new ValidationError(
        'PostgresStore listenConnectionString',
        listenConnectionString,
        'must be a postgres:// URL',
      );
    }
    this.listenAt = listenConnectionString ?? options.connectionString;
    if (options.preparedStatements !== undefined && typeof options.preparedStatements !== 'boolean') {
      throw new ValidationError(
        'PostgresStore preparedStatements',
        options.preparedStatements,
        'must be true or false',
      );
    }
    this.statementLimit = { timeoutMs: options.pool === undefined ? queryTimeoutMs : null };
    if (options.pool !== undefined) {
      if (!isQueryable(options.pool) || typeof options.pool.connect !== 'function') {
        throw new ValidationError('PostgresStore pool', options.pool, 'must be a pg Pool');
      }
      this.pool = options.pool;
      this.makePool = null;
      // An idle pooled connection that dies (a database restart) must not crash the process.
      this.pool.on('error', () => {});
      const settings = poolConnectionSettings(options.pool);
      this.makeLeasePool =
        settings === null
          ? null
          : (connectMs) => quietPool({ ...settings, ...LEASE_LANE, connectionTimeoutMillis: connectMs });
    } else {
      const { connectionString } = options;
      if (typeof connectionString !== 'string' || connectionString.length === 0) {
        throw new ValidationError('PostgresStore connectionString', connectionString, 'must be a postgres:// URL');
      }
      const max = options.poolSize ?? 10;
      if (!Number.isInteger(max) || max < 1) {
        throw new ValidationError('PostgresStore poolSize', options.poolSize, 'must be a whole number of at least 1');
      }
      this.makePool = () => quietPool(ownPoolConfig(connectionString, max, queryTimeoutMs, this.sendStatementTimeout));
      this.makeLeasePool = (connectMs) =>
        quietPool({
          ...ownPoolConfig(connectionString, 1, queryTimeoutMs, this.sendStatementTimeout),
          ...LEASE_LANE,
          connectionTimeoutMillis: connectMs,
        });
      this.pool = this.makePool();
    }
    const types = kairosTypeParsers(loadPg().types);
    // Through `live`, so that a pool made again (after a stop, or without a refused setting) is the
    // one used. (`kairosPool` sends its statements through it as `PgQueryConfig` objects.)
    const liveOf = (current: () => PgPool): PgPool => ({
      query: (text, values) =>
        this.refusedTimeoutAside((again) => current().query(again ? withoutTimeLimit(text) : text, values)),
      connect: () => this.refusedTimeoutAside(() => current().connect()),
      end: () => current().end(),
      on: (event, listener) => current().on(event, listener),
    });
    const live = liveOf(() => this.current());
    const makeLeasePool = this.makeLeasePool;
    this.leases = makeLeasePool === null ? live : liveOf(() => (this.leasePool ??= makeLeasePool(this.leaseConnectMs)));
    const names =
      options.preparedStatements === false
        ? null
        : new StatementNames(() =>
            this.logger().warn(
              { schema: this.schemaName },
              'PostgresStore: named statements keep being refused (unknown on one connection, defined already on another): a pooler in transaction mode (PgBouncer before 1.21, or without max_prepared_statements)? Sending them unnamed from now on; set preparedStatements: false to start that way',
            ),
          );
    this.withLimit = (named, limit, target = live) => kairosPool(target, { types, names: named ? names : null, limit });
    this.prepared = this.withLimit(true, this.statementLimit);
    this.plain = this.withLimit(false, this.statementLimit);
    this.untimed = this.withLimit(false, { timeoutMs: null });
  }

  /**
   * `prepared` (or `plain`) on a connection of its own, waiting at most `timeoutMs` for an answer
   * (never longer than the store's own limit), for lease renewals: on the pool they would wait
   * behind whatever fills it (a burst of `addJob` calls, the application's own queries on a pool it
   * gave, a turn's releases), with no time limit on the wait, and the leases of jobs running fine
   * could run out meanwhile. One connection, made when a renewal first needs it (within the
   * renewal's time) and closed after a minute unused (`kairos-leases` in `pg_stat_activity`). On a
   * pool of the application's with no settings to copy (not a `pg` Pool), the renewals share that
   * pool.
   */
  leaseLane(named: boolean, timeoutMs: number): PgPool {
    this.leaseConnectMs = timeoutMs;
    const limit = this.statementLimit.timeoutMs;
    return this.withLimit(named, { timeoutMs: limit === null ? timeoutMs : Math.min(limit, timeoutMs) }, this.leases);
  }

  /** A new connection for LISTEN (see `listenClient`). */
  listenClient(): PgClient {
    return listenClient(this.current(), this.listenAt, this.queryTimeoutMs);
  }

  /**
   * Checks the connections' settings, once per start: the DateStyle Kairos reads timestamps in,
   * their isolation level (see `checkIsolation`), whether the server vacuums (`checkAutovacuum`),
   * and, where Kairos did not give the connections a
   * `statement_timeout`, whether the server's is safe to put a time limit on statements (see
   * `safeStatementLimit`).
   */
  async checkSettings(logger: Logger): Promise<void> {
    let settings: Awaited<ReturnType<typeof readSessionSettings>>;
    try {
      settings = await readSessionSettings(this.plain);
    } catch (error) {
      throw pgStoreError(error, 'read the DateStyle, isolation and autovacuum settings');
    }
    checkDateStyle(settings.dateStyle);
    checkIsolation(settings.isolation, logger);
    checkAutovacuum(settings.autovacuum, logger);
    if ((this.makePool !== null && this.sendStatementTimeout) || this.queryTimeoutMs === null) return;
    const source = this.makePool === null ? 'pool-options' : 'server';
    try {
      this.statementLimit.timeoutMs = await safeStatementLimit(this.untimed, this.queryTimeoutMs, logger, source);
    } catch (error) {
      throw pgStoreError(error, 'read the statement_timeout setting');
    }
  }

  /**
   * Ends the store's own pool (the application's is the application's to end) and the lease
   * renewals' connection; a later use makes them again.
   */
  async end(): Promise<void> {
    await this.endLeasePool();
    if (this.makePool === null) return;
    this.poolEnded = true;
    await this.pool.end().catch(() => undefined);
  }

  private async endLeasePool(): Promise<void> {
    const leasePool = this.leasePool;
    this.leasePool = null;
    await leasePool?.end().catch(() => undefined);
  }

  /**
   * Runs `work` in a transaction on a client of its own (from `prepared` if `named`, else `plain`).
   * Run again if a prepared statement was refused (another node's migration changed its columns,
   * the connection lost its statements, a pooler handed it another server connection): the refusal
   * aborted the transaction, and the statements now go out under fresh names, or unnamed (see
   * `StatementNames`).
   */
  async transaction<T>(named: boolean, action: string, work: (client: PgPoolClient) => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.transactionOnce(named ? this.prepared : this.plain, work);
      } catch (error) {
        if (!isStaleStatement(error) || tries >= STALE_STATEMENT_TRIES) throw pgStoreError(error, action);
      }
    }
  }

  private async transactionOnce<T>(db: PgPool, work: (client: PgPoolClient) => Promise<T>): Promise<T> {
    const client = await db.connect();
    try {
      // Whatever the role's default: a claim's counts must see what other nodes committed after
      // its first statement (a repeatable read would keep its first snapshot, and caps would be
      // exceeded).
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const result = await work(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      // A connection that did not answer in time will not answer a ROLLBACK either.
      let broken = isQueryTimeout(error);
      if (!broken) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true; // the connection itself failed; do not return it to the pool
        }
      }
      client.release(broken);
      throw error;
    }
  }

  /**
   * The pool to use. A store that made its own pool ends it when the last scheduler using it
   * stops; used again (a scheduler started again), it makes a new one.
   */
  private current(): PgPool {
    if (this.poolEnded && this.makePool !== null) {
      this.pool = this.makePool();
      this.poolEnded = false;
    }
    return this.pool;
  }

  /**
   * `use` of the store's own pool, once more on a pool made again without the `statement_timeout`
   * it sends as its connections start, should a connection pooler refuse that (PgBouncer passes on
   * only the few settings it tracks). `checkSettings` then checks whether the server side sets one.
   */
  private async refusedTimeoutAside<T>(use: (again: boolean) => Promise<T>): Promise<T> {
    try {
      return await use(false);
    } catch (error) {
      // Only Kairos's own start-up parameter: one in `options` is the connection string's.
      const refused = refusedStartupSetting(error);
      if (this.makePool === null || refused?.name !== 'statement_timeout' || refused.inOptions) throw error;
      if (this.sendStatementTimeout) {
        // Several uses may fail at once: the first makes the change, all try again.
        this.sendStatementTimeout = false;
        this.statementLimit.timeoutMs = null; // until the server's own limit is known to be safe
        this.logger().info(
          { schema: this.schemaName },
          'PostgresStore: a connection pooler (PgBouncer?) refused the statement_timeout sent as connections start; connecting without it',
        );
        const refusing = this.pool;
        this.poolEnded = true; // the next use makes the pool again, with the new settings
        await Promise.all([refusing.end().catch(() => undefined), this.endLeasePool()]);
      }
      return use(true);
    }
  }
}

/** The lease renewals' connection (see `leaseLane`): one, kept while renewals come (every half lease). */
const LEASE_LANE = { max: 1, min: 0, application_name: 'kairos-leases', idleTimeoutMillis: 60_000 };

/** A `pg` pool whose idle connections may die (a database restart) without crashing the process. */
function quietPool(config: PgPoolConfig): PgPool {
  const pool = new (loadPg().Pool)(config);
  pool.on('error', () => {});
  return pool;
}

/**
 * A statement sent again after a pooler refused the pool's `statement_timeout`: without its time
 * limit too, until the server's own limit is known (a client that gives up while the server goes
 * on could see a claim it gave up on take effect).
 */
function withoutTimeLimit<Query>(query: Query): Query {
  if (typeof query !== 'object' || query === null || !('query_timeout' in query)) return query;
  const { query_timeout: _dropped, ...rest } = query as unknown as PgQueryConfig;
  return rest as Query;
}
