import { createHash } from 'node:crypto';
import type { PgPool, PgPoolClient, PgQueryable, PgQueryResult } from './pg-types.ts';

/** What `pg` accepts besides a text: a named statement is parsed and planned once per connection. */
interface NamedQuery {
  name: string;
  text: string;
}

type NamedQueryable = {
  query<Row>(query: NamedQuery, values?: unknown[]): Promise<PgQueryResult<Row>>;
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

  async query<Row>(target: PgQueryable, text: string, values?: unknown[]): Promise<PgQueryResult<Row>> {
    const named = target as unknown as NamedQueryable;
    try {
      return await named.query<Row>({ name: this.name(text), text }, values);
    } catch (error) {
      if (!STALE_STATEMENT.has(String((error as { code?: unknown }).code))) throw error;
      this.generation++;
      this.names.clear();
      return named.query<Row>({ name: this.name(text), text }, values);
    }
  }
}

/** A pool whose queries, and those of its clients, go out as named statements. */
export function preparingPool(pool: PgPool, names: StatementNames): PgPool {
  return {
    query: <Row>(text: string, values?: unknown[]) => names.query<Row>(pool, text, values),
    connect: async () => preparingClient(await pool.connect(), names),
    end: () => pool.end(),
    on: (event, listener) => pool.on(event, listener),
  };
}

function preparingClient(client: PgPoolClient, names: StatementNames): PgPoolClient {
  return {
    query: <Row>(text: string, values?: unknown[]) => names.query<Row>(client, text, values),
    release: (error) => client.release(error),
  };
}
