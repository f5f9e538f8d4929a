import pg from 'pg';

/** The machine's PostgreSQL (trust auth, database `test`), unless KAIROS_TEST_POSTGRES says otherwise. */
export const TEST_DATABASE_URL = process.env.KAIROS_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

let counter = 0;

/** A schema name no other test uses (tests of different files run at once). */
export function freshSchema(label: string): string {
  return `t_${label}_${process.pid}_${Date.now().toString(36)}_${++counter}`;
}

/** Drops the given schemas. */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
