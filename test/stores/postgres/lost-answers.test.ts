// A claim that goes through on the server while its answer never reaches the node (the connection
// breaks after the commit): the jobs it leased are the node's strays, handed back once the server
// answers again (see StrayLeases), not left to end `abandoned` a lease later.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { PostgresStore } from '../../../src/postgres.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import type { SchedulerOptions } from '../../../src/scheduler/scheduler-options.ts';
import { until } from '../../support/child-node.ts';
import { TcpProxy } from '../../support/tcp-proxy.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/**
 * A node whose connections go through a proxy that can lose an answer, with a lease of a minute
 * (left leased, a job would wait that long, then end `abandoned`, unrun with no abandonment retry),
 * and a producer straight to the server; on a fresh schema.
 */
async function nodeBehindProxy(label: string, options: SchedulerOptions = {}) {
  const schema = freshSchema(label);
  schemas.push(schema);
  const proxy = new TcpProxy('127.0.0.1', 5432);
  const warnings: string[] = [];
  const node = new Scheduler({
    store: new PostgresStore({ connectionString: await proxy.start(), schema }),
    logger: { ...silentLogger, warn: (_fields: object, message?: string) => void warnings.push(message ?? '') },
    leaseDuration: '60s',
    ...options,
  });
  const producer = new Scheduler({
    store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 1 }),
    logger: silentLogger,
  });
  /** The runs recorded, as [job, attempt, outcome], once there are `count`. */
  const recorded = async (count: number) => {
    await until(async () => (await producer.getExecutions()).items.length >= count, 'runs recorded', 10_000, 20);
    return (await producer.getExecutions()).items.map((e) => [e.jobId, e.attempt, e.outcome]).sort();
  };
  const close = async () => {
    await node.stop();
    await producer.stop();
    await proxy.stop();
  };
  return { proxy, node, producer, warnings, recorded, close };
}

describe('PostgresStore when the answer to a claim that went through is lost', () => {
  it('hands the jobs it leased back once the store answers again: they run at once, not as abandoned a lease later', async () => {
    const { proxy, node, producer, warnings, recorded, close } = await nodeBehindProxy('lostclaim', {
      nodeId: 'lost-claim-node',
    });
    const ran: string[] = [];
    node.task('lost-claim-task', (ctx) => void ran.push(ctx.jobId), { retry: { abandoned: 0 } });
    producer.task('lost-claim-task', () => {});
    try {
      await node.start();
      await producer.ready();
      // The claim names the node and its tasks among its parameters.
      const lost = proxy.loseReplyTo('lost-claim-node', 'lost-claim-task');
      const jobId = await producer.addJob('lost-claim-task');
      await lost;
      expect(await producer.getJob(jobId)).toMatchObject({ status: 'running', acquiredBy: 'lost-claim-node' });
      await until(() => ran.includes(jobId), 'the job runs', 20_000, 20);
      expect(await recorded(1)).toEqual([[jobId, 1, 'succeeded']]);
      expect(ran).toEqual([jobId]);
      expect(warnings).toContain(
        'handed back jobs leased to this node by a claim whose answer it never got: pending again, for any node',
      );
    } finally {
      await close();
    }
  });
});

describe('PostgresStore when the answer to the capped part of a claim is lost', () => {
  it('says the claim is incomplete, and the node hands back what that part leased', async () => {
    const { proxy, node, producer, recorded, close } = await nodeBehindProxy('lostcapped', { pollInterval: '1h' });
    const ran: string[] = [];
    // A claim takes the uncapped job in one statement, then the capped one in a transaction.
    node.task('uncapped', (ctx) => void ran.push(ctx.jobId), { retry: { abandoned: 0 } });
    node.task('capped', (ctx) => void ran.push(ctx.jobId), { retry: { abandoned: 0 }, maxRunningJobs: 1 });
    for (const name of ['uncapped', 'capped']) producer.task(name, () => {});
    try {
      await node.start();
      await until(async () => (await producer.getNodes()).length === 1, 'the node is up and idle', 10_000, 20);
      // Idle, the node commits no transaction but the claim's: the capped part's COMMIT goes
      // through, and its answer does not come back.
      const lost = proxy.loseReplyTo('Q\u0000\u0000\u0000\u000bCOMMIT\u0000'); // the COMMIT message, whole
      // Both in one transaction, so that one claim finds them both.
      const app = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await app.connect();
      await app.query('BEGIN');
      const uncapped = await producer.addJob('uncapped', { tx: app });
      const capped = await producer.addJob('capped', { tx: app });
      await app.query('COMMIT');
      await app.end();
      await lost;
      await until(() => ran.includes(uncapped) && ran.includes(capped), 'both jobs run', 20_000, 20);
      expect(await recorded(2)).toEqual(
        [
          [uncapped, 1, 'succeeded'],
          [capped, 1, 'succeeded'],
        ].sort(),
      );
    } finally {
      await close();
    }
  });
});
