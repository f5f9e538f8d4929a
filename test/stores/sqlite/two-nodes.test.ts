import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { SqliteStore } from '../../../src/sqlite.ts';
import { tempDatabases } from './sqlite-test-files.ts';
import { until as waitUntil } from '../../support/child-node.ts';

// Two schedulers in this process, each with its own store and connection to one file: to SQLite
// they are two nodes exactly as two processes would be (the multi-process tests use real ones).
const files = tempDatabases('two-nodes');
afterAll(() => files.cleanup());
let counter = 0;

function node(path: string, name: string, withTasks: boolean): Scheduler {
  const scheduler = new Scheduler({ store: new SqliteStore({ path }), nodeId: name, logger: silentLogger });
  scheduler.task('wait', async (ctx) => {
    if (!withTasks) throw new Error('not here');
    await ctx.sleep('1h');
  });
  scheduler.task('double', (_ctx, args: { n: number }) => {
    if (!withTasks) throw new Error('not here');
    return args.n * 2;
  });
  return scheduler;
}

/** The shared wait, with this file's deadline (10 s) and poll period (20 ms). */
const until = (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) =>
  waitUntil(check, what, timeoutMs, 20);

describe('two nodes on one SQLite file', () => {
  it('cancels a job running on the other node', async () => {
    const path = files.path(`db-${++counter}.db`);
    const worker = node(path, 'worker', true);
    const web = node(path, 'web', false); // adds and cancels; never started, so never runs anything
    await worker.start();
    const id = await web.addJob('wait');
    await until(async () => (await web.getJob(id))?.status === 'running', 'the worker runs the job');
    expect(await web.cancelJob(id)).toBe('requested');
    await until(
      async () => (await web.getExecutions({ jobId: id })).items.length === 1,
      'the cancellation is recorded',
    );
    const [execution] = (await web.getExecutions({ jobId: id })).items;
    expect(execution).toMatchObject({ outcome: 'cancelled', node: 'worker' });
    await worker.stop();
    await web.stop();
  });

  it('runJob on one node resolves with the result computed on the other', async () => {
    const path = files.path(`db-${++counter}.db`);
    const worker = node(path, 'worker', true);
    const web = new Scheduler({
      store: new SqliteStore({ path }),
      nodeId: 'web',
      logger: silentLogger,
      pollInterval: '200ms', // how often runJob looks for an outcome it could not hear about
    });
    web.task('double', () => {
      throw new Error('the web node never runs tasks');
    });
    await worker.start();
    await expect(web.runJob('double', { args: { n: 21 } })).resolves.toBe(42);
    await worker.stop();
    await web.stop();
  });
});
