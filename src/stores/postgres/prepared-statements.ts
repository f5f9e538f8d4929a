import { createHash } from 'node:crypto';
import type { PgPool, PgPoolClient, PgQueryable, PgQueryResult, PgTypeParsers } from './pg-types.ts';

/**
 * What `pg` accepts besides a text: a named statement is parsed and planned once per connection;
 * `types` parses this query's results.
 */
interface QueryConfig {
  name?: string;
  text: string;
  types: PgTypeParsers;
}

type ConfigQueryable = {
  query<Row>(query: QueryConfig, values?: unknown[]): Promise<PgQueryResult<Row>>;
};

/**
 * PostgreSQL's answers when a prepared statement cannot be used: its result columns changed under
 * it (a migration), or the connection no longer has it (`DISCARD ALL`, a pooler's reset).
 */
const STALE_STATEMENT = new Set(['0A000', '26000']);

/**
 * Names every statement Kairos sends, so each connection parses and plans it once: the hot
 * statements (claims, releases) are planned in about the time they take to run, so this halves
 * their cost. Kairos's statement texts are a small fixed set per schema, so the names stay few.
 *
 * A migration applied by a newer node can change a statement's result columns, and a connection
 * may lose its prepared statements (`DISCARD ALL`); PostgreSQL then refuses the old statement. The
 * names carry a generation, and such a refusal moves to the next one, so the statement is prepared
 * afresh on every connection.
 */
export class StatementNames {
  private readonly names = new Map<string, string>();
  private generation = 0;

  name(text: string): string {
    let name = this.names.get(text);
    if (name === undefined) {
      name = `kairos_${this.generation}_${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
      this.names.set(text, name);
    }
    return name;
  }

  async query<Row>(target: PgQueryable, text: string, values: unknown[] | undefined, types: PgTypeParsers) {
    const configurable = target as unknown as ConfigQueryable;
    try {
      return await configurable.query<Row>({ name: this.name(text), text, types }, values);
    } catch (error) {
      if (!STALE_STATEMENT.has(String((error as { code?: unknown }).code))) throw error;
      this.generation++;
      this.names.clear();
      return configurable.query<Row>({ name: this.name(text), text, types }, values);
    }
  }
}

/**
 * A pool whose queries, and those of its clients, go out the way Kairos sends its statements: with
 * Kairos's result parsers (see `kairosTypeParsers`), whatever the application set globally, and
 * named when `names` is given.
 */
export function kairosPool(pool: PgPool, names: StatementNames | null, types: PgTypeParsers): PgPool {
  return {
    query: <Row>(text: string, values?: unknown[]) => send<Row>(pool, text, values, names, types),
    connect: async () => kairosClient(await pool.connect(), names, types),
    end: () => pool.end(),
    on: (event, listener) => pool.on(event, listener),
  };
}

function kairosClient(client: PgPoolClient, names: StatementNames | null, types: PgTypeParsers): PgPoolClient {
  return {
    query: <Row>(text: string, values?: unknown[]) => send<Row>(client, text, values, names, types),
    release: (error) => client.release(error),
  };
}

function send<Row>(
  target: PgQueryable,
  text: string,
  values: unknown[] | undefined,
  names: StatementNames | null,
  types: PgTypeParsers,
): Promise<PgQueryResult<Row>> {
  if (names !== null) return names.query<Row>(target, text, values, types);
  return (target as unknown as ConfigQueryable).query<Row>({ text, types }, values);
}
