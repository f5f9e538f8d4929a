import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import type { KairosEvent } from '../../../src/events/event-types.ts';
import { PostgresStore } from '../../../src/postgres.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

// Two schedulers in this process, each with its own store, pool and LISTEN connection: to
// PostgreSQL they are two nodes. Their poll interval is an hour, so only NOTIFY can move them.
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

function node(schema: string, name: string, runsTasks: boolean): Scheduler {
  const scheduler = new Scheduler({
    store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 }),
    nodeId: name,
    logger: silentLogger,
    pollInterval: '1h',
  });
  scheduler.task('double', (_ctx, args: { n: number }) => {
    if (!runsTasks) throw new Error(`${name} must not run tasks`);
    return args.n * 2;
  });
  return scheduler;
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('two PostgreSQL nodes', () => {
  it("wake each other through NOTIFY and hear each other's events", async () => {
    const schema = freshSchema('two');
    schemas.push(schema);
    const worker = node(schema, 'worker', true);
    const web = node(schema, 'web', false);
    await worker.start();
    await web.ready(); // adds jobs, never runs any
    const heardOnWeb: KairosEvent[] = [];
    web.on('*', (event) => heardOnWeb.push(event));
    const id = await web.addJob('double', { args: { n: 21 } });
    await until(
      () => heardOnWeb.some((event) => event.type === 'job.succeeded' && event.jobId === id),
      'the web node hears the result',
    );
    const succeeded = heardOnWeb.find((event) => event.type === 'job.succeeded');
    expect(succeeded).toMatchObject({ jobId: id, execution: { node: 'worker', outcome: 'succeeded' } });
    expect(heardOnWeb.some((event) => event.type === 'job.started' && event.jobId === id)).toBe(true);
    expect(await web.runJob('double', { args: { n: 4 } })).toBe(8);
    await worker.stop();
    await web.stop();
  });
});
