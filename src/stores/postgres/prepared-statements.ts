import { createHash } from 'node:crypto';
import type {
  PgConfigQueryable,
  PgPool,
  PgPoolClient,
  PgQueryable,
  PgQueryConfig,
  PgQueryResult,
  PgTypeParsers,
} from './pg-types.ts';

/** How Kairos sends its statements on a pool: result parsers, names, and how long to wait for an answer. */
export interface KairosQueryOptions {
  types: PgTypeParsers;
  /** Prepared-statement names, or null to send statements unnamed. */
  names: StatementNames | null;
  /**
   * Milliseconds to wait for an answer before the connection is taken for dead; null: for ever.
   * Shared, and set by the store once it knows the limit is safe (see `PostgresStore.start`).
   */
  limit: { timeoutMs: number | null };
}

/**
 * A named statement the connection no longer has (26000: `DISCARD ALL`, a pooler's reset) or has
 * already (42P05: behind a pooler in transaction mode, another client prepared it on the server
 * connection this one was handed). Both say that names and connections got out of step.
 */
const LOST_STATEMENT = new Set(['26000', '42P05']);
/** Refusals of `LOST_STATEMENT` (counted once per name generation) in this window that give up names. */
const REFUSALS_TO_GIVE_UP = 3;
const REFUSAL_WINDOW_MS = 60_000;
/** Statements sent unnamed always: nothing to plan, and a refused ROLLBACK would cost its connection. */
const TRANSACTION_CONTROL = /^(BEGIN|COMMIT|ROLLBACK)\b/;
/**
 * How often a refused statement (or the transaction it aborted) is sent: enough for names to be
 * given up, with room for refusals that do not count (0A000) or that come from a generation
 * already left behind.
 */
export const STALE_STATEMENT_TRIES = 2 * REFUSALS_TO_GIVE_UP;

/**
 * Whether PostgreSQL refused a prepared statement that can no longer be used as prepared: lost
 * (see `LOST_STATEMENT`), or its plan no longer valid, its result columns changed under it by a
 * migration (0A000; the code is "feature not supported" at large, but its message, the only
 * other sign, depends on the server's language).
 */
export function isStaleStatement(error: unknown): boolean {
  return isLostStatement(error) || errorCode(error) === '0A000';
}

function isLostStatement(error: unknown): boolean {
  return LOST_STATEMENT.has(errorCode(error));
}

function errorCode(error: unknown): string {
  return String((error as { code?: unknown } | null)?.code);
}

/**
 * Names every statement Kairos sends, so each connection parses and plans it once: the hot
 * statements (claims, releases) are planned in about the time they take to run, so this halves
 * their cost. Kairos's statement texts are a small fixed set per schema, so the names stay few.
 *
 * A migration applied by a newer node can change a statement's result columns, and a connection
 * may lose its prepared statements (`DISCARD ALL`); PostgreSQL then refuses the old statement. The
 * names carry a generation, and such a refusal moves to the next one, so the statement is prepared
 * afresh on every connection.
 *
 * Behind a pooler in transaction mode that does not track prepared statements (PgBouncer before
 * 1.21), each transaction may run on another server connection, so named statements are lost
 * (or found defined already) over and over. After a few such refusals in a minute, the statements
 * go out unnamed (`onGiveUp` is told), as with `preparedStatements: false`.
 */
export class StatementNames {
  private readonly names = new Map<string, string>();
  private generation = 0;
  private refusedAt: number[] = [];
  private givenUp = false;
  private readonly onGiveUp: () => void;

  constructor(onGiveUp: () => void = () => {}) {
    this.onGiveUp = onGiveUp;
  }

  name(text: string): string {
    let name = this.names.get(text);
    if (name === undefined) {
      name = `kairos_${this.generation}_${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
      this.names.set(text, name);
    }
    return name;
  }

  /**
   * `retry`: send a refused statement again at once under its new name (or unnamed). Not inside a
   * transaction: the refusal aborted it, so the whole transaction must be run again (see
   * `PostgresStore`).
   */
  async query<Row>(target: PgQueryable, config: PgQueryConfig, values: unknown[] | undefined, retry: boolean) {
    const configurable = target as unknown as PgConfigQueryable;
    for (let tries = 1; ; tries++) {
      if (this.givenUp || TRANSACTION_CONTROL.test(config.text)) return configurable.query<Row>(config, values);
      const generation = this.generation;
      try {
        return await configurable.query<Row>({ ...config, name: this.name(config.text) }, values);
      } catch (error) {
        if (!isStaleStatement(error)) throw error;
        this.refused(generation, isLostStatement(error));
        if (!retry || tries >= STALE_STATEMENT_TRIES) throw error;
      }
    }
  }

  /**
   * Moves to the next generation, once for all the statements of `generation` refused together.
   * Only `lost` statements count towards giving names up: a migration's column change happens once.
   */
  private refused(generation: number, lost: boolean): void {
    if (generation !== this.generation) return;
    this.generation++;
    this.names.clear();
    if (!lost) return;
    const now = Date.now();
    this.refusedAt = [...this.refusedAt.filter((at) => now - at < REFUSAL_WINDOW_MS), now];
    if (this.refusedAt.length >= REFUSALS_TO_GIVE_UP && !this.givenUp) {
      this.givenUp = true;
      this.onGiveUp();
    }
  }
}

/**
 * A pool whose queries, and those of its clients, go out the way Kairos sends its statements: with
 * Kairos's result parsers (see `kairosTypeParsers`), whatever the application set globally, named
 * when `names` is given, and given up after `limit.timeoutMs`.
 *
 * The timeout is for connections that go quiet without closing: after a failover that leaves the
 * old sockets open, or a firewall that forgets them, a query waits for an answer that never comes,
 * for a quarter of an hour or for ever, and the node's loops with it. A query that times out fails;
 * the pool drops its connection, and the next query gets a new one.
 */
export function kairosPool(pool: PgPool, options: KairosQueryOptions): PgPool {
  return {
    query: <Row>(text: string, values?: unknown[]) => send<Row>(pool, text, values, options, true),
    connect: async () => kairosClient(await pool.connect(), options),
    end: () => pool.end(),
    on: (event, listener) => pool.on(event, listener),
  };
}

/**
 * A checked-out client (Kairos checks one out only for a transaction or a migration). While it is
 * out, `pg-pool` no longer listens for its errors: a connection lost meanwhile (a database
 * restart, a killed backend) would be an unhandled 'error' event, which ends the process. The
 * query in flight fails on its own and the caller handles that; this listener only keeps the
 * event from crashing the application. It stays on a client released as broken (being closed).
 */
function kairosClient(client: PgPoolClient, options: KairosQueryOptions): PgPoolClient {
  const ignore = () => {};
  client.on?.('error', ignore);
  return {
    query: <Row>(text: string, values?: unknown[]) => send<Row>(client, text, values, options, false),
    release: (error) => {
      if (error === undefined || error === false) client.removeListener?.('error', ignore);
      client.release(error);
    },
  };
}

function send<Row>(
  target: PgQueryable,
  text: string,
  values: unknown[] | undefined,
  options: KairosQueryOptions,
  retryStale: boolean,
): Promise<PgQueryResult<Row>> {
  const config: PgQueryConfig =
    options.limit.timeoutMs === null
      ? { text, types: options.types }
      : { text, types: options.types, query_timeout: options.limit.timeoutMs };
  if (options.names !== null) return options.names.query<Row>(target, config, values, retryStale);
  return (target as unknown as PgConfigQueryable).query<Row>(config, values);
}
