import pg from 'pg';

export const BENCH_DATABASE_URL = process.env.KAIROS_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Counts every query any `pg` client of this process sends (Kairos and the peers share one `pg`). */
export function countQueries(): { readonly count: number } {
  const counter = { count: 0 };
  const prototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = prototype.query;
  prototype.query = function (this: unknown, ...args: unknown[]) {
    counter.count++;
    return original.apply(this, args);
  };
  return counter;
}

export async function dropSchema(...schemas: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check()` is true, polling every `everyMs`; throws after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await sleep(everyMs);
  }
}
