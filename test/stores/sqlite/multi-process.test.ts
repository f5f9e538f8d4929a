import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { BetterSqlite3Database } from '../../../src/stores/sqlite/sqlite-connection.ts';
import { ChildNode, checkFires, type FireRecord, killLiveChildren, until } from '../../support/child-node.ts';
import type { SqliteNodeConfig } from './fixtures/node-process.ts';
import { tempDatabases } from './sqlite-test-files.ts';

// Real OS processes, each a Kairos node (fixtures/node-process.ts, driven by the shared helpers in
// test/support/child-node.ts) on one SQLite file in a temp dir, on the system clock. Nothing here
// asserts speed: every wait polls the database (or a process's output) for a condition, with a
// generous deadline, and fails with what it saw.
//
// Drivers: the cluster in the exactly-once test mixes both (two better-sqlite3 processes and one
// node:sqlite process on one file: the store's guarantees come from SQLite's file locking, not from
// the library, and the mix costs nothing extra). The wake-up latency and kill -9 tests are short,
// so they run once per driver.

const FIXTURE = fileURLToPath(new URL('./fixtures/node-process.ts', import.meta.url));
const DRIVERS = ['better-sqlite3', 'node:sqlite'] as const;
/** How long a node may take to start (`ready`) or to stop gracefully (`terminate`). */
const NODE_DEADLINE_MS = 20_000;

const files = tempDatabases('multi-process');
afterAll(() => files.cleanup());
let counter = 0;

type Database = BetterSqlite3Database & {
  prepare(sql: string): { all(...params: unknown[]): unknown[] };
  close(): void;
};
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => Database;

interface ExecutionRow {
  job_id: string;
  schedule_id: string | null;
  task: string;
  fire_time: number | null;
  run_at: number;
  started_at: number | null;
  outcome: string;
  node: string | null;
  attempt: number;
  error_name: string | null;
}

interface JobRow {
  id: string;
  schedule_id: string | null;
  fire_time: number | null;
  status: string;
  acquired_by: string | null;
  attempt: number;
}

type Node = ChildNode<SqliteNodeConfig>;

function spawnNode(config: SqliteNodeConfig): Node {
  return new ChildNode<SqliteNodeConfig>(FIXTURE, config);
}

// A failed test must not leave its processes behind (only ours, by handle).
afterEach(killLiveChildren);

function fresh(): { path: string; log(name: string): string } {
  const n = ++counter;
  return { path: files.path(`db-${n}.db`), log: (name) => files.path(`runs-${n}-${name}.jsonl`) };
}

function query<T>(db: Database, sql: string, ...params: unknown[]): T[] {
  return db.prepare(sql).all(...params) as T[];
}

describe('SqliteStore with several real processes on one file', () => {
  it('runs every fire of 50 one-second schedules exactly once across 3 processes that all declare them', async () => {
    const { path, log } = fresh();
    const drivers = ['better-sqlite3', 'node:sqlite', 'better-sqlite3'] as const;
    const nodes = drivers.map((driver, i) =>
      spawnNode({
        path,
        driver,
        nodeId: `node-${i + 1}`,
        runLog: log(`node-${i + 1}`),
        // coalesce 'all' and maxInstances 5: even a node stalled by a loaded machine must then
        // produce one succeeded run per fire time (`latest` could legitimately merge two fires of a
        // stalled second, and maxInstances 1 skip one), so any gap or extra record is a real fault.
        schedules: { count: 50, seconds: 1, policies: { coalesce: 'all', maxInstances: 5 } },
      }),
    );
    await Promise.all(nodes.map((node) => node.ready(NODE_DEADLINE_MS)));
    const startedAt = Date.now();
    // The exercise lasts ~20 s of wall time; nothing below depends on how much got done in it
    // beyond a sanity floor.
    await until(() => Date.now() - startedAt >= 20_000 || nodes.some((node) => node.exit !== null), '20 s pass');
    for (const node of nodes) expect(node.exit, `died early:\n${node.describe()}`).toBeNull();
    await Promise.all(nodes.map((node) => node.terminate(NODE_DEADLINE_MS)));
    // The scheduler logs what it survived (a locked database, a failed pass) to stderr; three nodes
    // sharing a file must not need to survive anything.
    for (const node of nodes) expect(node.stderr, `reported errors:\n${node.describe()}`).toBe('');

    const db = new BetterSqlite3(path);
    let executions: ExecutionRow[];
    let leftover: JobRow[];
    try {
      executions = query<ExecutionRow>(db, "SELECT * FROM kairos_executions WHERE task = 'tick'");
      leftover = query<JobRow>(db, 'SELECT * FROM kairos_jobs');
    } finally {
      db.close();
    }

    const records: FireRecord[] = [
      ...executions.map((e) => ({
        scheduleId: e.schedule_id,
        fireTime: e.fire_time,
        outcome: e.outcome,
        node: e.node,
        attempt: e.attempt,
        errorName: e.error_name,
      })),
      // Jobs made by the last fires but not yet run when the cluster stopped: handed on, not lost.
      ...leftover.map((job) => ({
        scheduleId: job.schedule_id,
        fireTime: job.fire_time,
        outcome: `left ${job.status}`,
        node: job.acquired_by,
        attempt: job.attempt,
      })),
    ];
    const problems = leftover
      .filter((job) => job.status !== 'pending')
      .map((job) => `job ${job.id} left ${job.status} after a graceful stop`);
    // Every one of the 50 schedules, and no other, has one succeeded record per fire time (a pending
    // job for the last ones), at least 5 in ~20 s, with no gap; and the task bodies agree with the
    // table: each ran exactly once per fire, in the node recorded, and never outside a schedule.
    problems.push(
      ...checkFires(
        records,
        nodes.flatMap((node) => node.runs()),
        {
          scheduleIds: Array.from({ length: 50 }, (_, i) => `s${String(i).padStart(2, '0')}`),
          periodMs: 1000,
          minFires: 5,
          mode: 'exactly-once',
          everyRunScheduled: true,
        },
      ),
    );

    expect(problems.slice(0, 40), `${problems.length} problem(s)`).toEqual([]);
    const perNode = new Map<string, number>();
    for (const e of executions) perNode.set(String(e.node), (perNode.get(String(e.node)) ?? 0) + 1);
    expect(perNode.size, `runs per node: ${JSON.stringify([...perNode])}`).toBeGreaterThan(1);
  }, 90_000);

  it.each(DRIVERS)(
    '%s: a job added by a process that never starts is started by a running one within 1 s',
    async (driver) => {
      const { path, log } = fresh();
      const worker = spawnNode({ path, driver, nodeId: 'worker', runLog: log('worker') });
      await worker.ready(NODE_DEADLINE_MS);
      // The "web process": adds 10 jobs 300 ms apart (so each is noticed on its own) and exits.
      const web = spawnNode({
        path,
        driver,
        nodeId: 'web',
        runLog: log('web'),
        jobs: { task: 'record', count: 10, gapMs: 300 },
        addOnly: true,
      });
      await web.exitedWithin(30_000);
      expect(web.exit, web.describe()).toEqual({ code: 0, signal: null });
      const ids = web.jobIds();
      expect(ids).toHaveLength(10);

      const db = new BetterSqlite3(path);
      let executions: ExecutionRow[] = [];
      try {
        const marks = ids.map(() => '?').join(', ');
        await until(
          () => {
            executions = query<ExecutionRow>(db, `SELECT * FROM kairos_executions WHERE job_id IN (${marks})`, ...ids);
            return executions.length === ids.length;
          },
          () => `the 10 jobs are recorded\n${worker.describe()}`,
        );
      } finally {
        db.close();
      }
      await worker.terminate(NODE_DEADLINE_MS);

      expect(executions.map((e) => [e.outcome, e.node, e.attempt])).toEqual(ids.map(() => ['succeeded', 'worker', 1]));
      expect(web.runs()).toEqual([]);
      // The requirement is "started within 1 s of being added" with the default watchInterval
      // (200 ms): the worker notices another process's commit by polling PRAGMA data_version, so
      // the delay is normally 0-250 ms. It is judged on the median of 10 jobs, so that one job
      // delayed by the machine (2 cores, other test files running) cannot fail it; a lost wake-up
      // would instead fall back to the 10 s safety poll, so every job must also start within 2 s.
      const latencies = executions.map((e) => (e.started_at ?? Number.NaN) - e.run_at).sort((a, b) => a - b);
      const median = ((latencies[4] as number) + (latencies[5] as number)) / 2;
      const detail = `start delays (ms), sorted: ${latencies.join(', ')}`;
      expect(median, detail).toBeLessThan(1000);
      expect(latencies.at(-1), detail).toBeLessThan(2000);
    },
    60_000,
  );

  it.each(DRIVERS)(
    '%s: after kill -9 of the node running a job, another node records it abandoned and runs attempt 2',
    async (driver) => {
      const { path, log } = fresh();
      const leaseMs = 2000;
      // A alone first, so it is the one that takes the job it adds.
      const a = spawnNode({
        path,
        driver,
        nodeId: 'A',
        runLog: log('A'),
        leaseDuration: '2s',
        jobs: { task: 'long-once', count: 1, gapMs: 0 },
      });
      await a.ready(NODE_DEADLINE_MS);
      const [jobId] = a.jobIds();
      expect(jobId, a.describe()).toBeDefined();
      const db = new BetterSqlite3(path);
      try {
        const job = () => query<JobRow>(db, 'SELECT * FROM kairos_jobs WHERE id = ?', jobId)[0];
        await until(
          () => job()?.status === 'running',
          () => `A runs the job\n${a.describe()}`,
        );
        expect(job()).toMatchObject({ acquired_by: 'A', attempt: 1 });
        // B (default lease: the takeover follows the job's lease, set by A) is running before the kill.
        const b = spawnNode({ path, driver, nodeId: 'B', runLog: log('B') });
        await b.ready(NODE_DEADLINE_MS);

        const killedAt = Date.now();
        a.child.kill('SIGKILL');
        await a.exitedWithin(10_000);
        expect(a.exit).toEqual({ code: null, signal: 'SIGKILL' });

        const history = () =>
          query<ExecutionRow>(
            db,
            'SELECT * FROM kairos_executions WHERE job_id = ? ORDER BY attempt, finished_at',
            jobId,
          );
        await until(
          () => history().some((e) => e.outcome === 'succeeded'),
          () => `B records A's attempt abandoned and runs the job again\n${b.describe()}`,
        );
        await b.terminate(NODE_DEADLINE_MS);

        const records = history();
        expect(records.map((e) => ({ outcome: e.outcome, node: e.node, attempt: e.attempt }))).toEqual([
          { outcome: 'abandoned', node: 'A', attempt: 1 },
          { outcome: 'succeeded', node: 'B', attempt: 2 },
        ]);
        expect(records[0]?.error_name).toBe('NodeLost');
        expect(job()).toBeUndefined();
        // The task bodies: attempt 1 started in A, attempt 2 in B; nothing else ran.
        expect(a.runs().map((r) => [r.jobId, r.node, r.attempt])).toEqual([[jobId, 'A', 1]]);
        expect(b.runs().map((r) => [r.jobId, r.node, r.attempt])).toEqual([[jobId, 'B', 2]]);
        // A's lease ran out at most `leaseMs` after its last renewal (before the kill); B takes over
        // then. The bound is generous (lease + 3 s) so a loaded machine cannot fail it.
        const rerunDelay = (records[1]?.started_at ?? Number.POSITIVE_INFINITY) - killedAt;
        expect(rerunDelay, `attempt 2 started ${rerunDelay} ms after the kill`).toBeLessThan(leaseMs + 3000);
      } finally {
        db.close();
      }
    },
    60_000,
  );
});
