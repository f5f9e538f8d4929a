import { afterAll, describe } from 'vitest';
import { PostgresStore } from '../../src/postgres.ts';
import { startOnVirtualClock } from './conformance/harness.ts';
import { storeConformance } from './conformance/index.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './postgres/pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe('PostgresStore', () => {
  storeConformance(() => {
    const schema = freshSchema('conf');
    schemas.push(schema);
    return startOnVirtualClock(new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 }));
  });
});
