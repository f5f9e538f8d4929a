import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { BetterSqlite3Database } from '../../../src/stores/sqlite/sqlite-connection.ts';
import type { NodeProcessConfig, RunLine } from './fixtures/node-process.ts';
import { tempDatabases } from './sqlite-test-files.ts';

// Real OS processes, each a Kairos node (fixtures/node-process.ts) on one SQLite file in a temp
// dir, on the system clock. Nothing here asserts speed: every wait polls the database (or a
// process's output) for a condition, with a generous deadline, and fails with what it saw.
//
// Drivers: the cluster in the exactly-once test mixes both (two better-sqlite3 processes and one
// node:sqlite process on one file: the store's guarantees come from SQLite's file locking, not from
// the library, and the mix costs nothing extra). The wake-up latency and kill -9 tests are short,
// so they run once per driver.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/node-process.ts', import.meta.url));
const DRIVERS = ['better-sqlite3', 'node:sqlite'] as const;

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

/** A fixture process: its output lines, and a promise of its exit. */
class NodeProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<void>;
  readonly config: NodeProcessConfig;

  constructor(config: NodeProcessConfig) {
    this.config = config;
    this.child = spawn(process.execPath, ['--conditions=kairos-source', FIXTURE, JSON.stringify(config)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  get name(): string {
    return this.config.nodeId;
  }

  describe(): string {
    const exit = this.exit === null ? 'running' : `exited (code ${this.exit.code}, signal ${this.exit.signal})`;
    return `${this.name} [${exit}]\n  stdout: ${this.lines.join(' | ')}\n  stderr: ${this.stderr.trim() || '(empty)'}`;
  }

  /** Waits for the `ready` line (the scheduler has started). */
  async ready(timeoutMs = 20_000): Promise<void> {
    await until(
      () => {
        if (this.exit !== null) throw new Error(`node process exited before it was ready:\n${this.describe()}`);
        return this.lines.includes(`ready ${this.name}`);
      },
      `${this.name} is ready`,
      timeoutMs,
    );
  }

  /** The ids of the jobs it added (`job <id>` lines). */
  jobIds(): string[] {
    return this.lines.filter((line) => line.startsWith('job ')).map((line) => line.slice(4));
  }

  /** SIGTERM, then waits for a graceful exit (code 0 after `stopped`). */
  async terminate(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exitedWithin(20_000);
    expect(this.exit, this.describe()).toEqual({ code: 0, signal: null });
    expect(this.lines, this.describe()).toContain(`stopped ${this.name}`);
  }

  async exitedWithin(timeoutMs: number): Promise<void> {
    await until(() => this.exit !== null, `${this.name} exits\n${this.describe()}`, timeoutMs);
  }

  runs(): RunLine[] {
    if (!existsSync(this.config.runLog)) return [];
    return readFileSync(this.config.runLog, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as RunLine);
  }
}

const live = new Set<NodeProcess>();
afterEach(async () => {
  // A failed test must not leave its processes behind (only ours, by handle).
  const left = [...live];
  for (const node of left) node.child.kill('SIGKILL');
  await Promise.all(left.map((node) => node.exited));
});

/** Waits, in real time and with a deadline, until `check` holds. */
async function until(check: () => boolean, what: string, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

function fresh(): { path: string; log(name: string): string } {
  const n = ++counter;
  return { path: files.path(`db-${n}.db`), log: (name) => files.path(`runs-${n}-${name}.jsonl`) };
}

function query<T>(db: Database, sql: string, ...params: unknown[]): T[] {
  return db.prepare(sql).all(...params) as T[];
}

const iso = (ms: number | null) => (ms === null ? 'null' : new Date(ms).toISOString());

describe('SqliteStore with several real processes on one file', () => {
  it('runs every fire of 50 one-second schedules exactly once across 3 processes that all declare them', async () => {
    const { path, log } = fresh();
    const drivers = ['better-sqlite3', 'node:sqlite', 'better-sqlite3'] as const;
    const nodes = drivers.map(
      (driver, i) =>
        new NodeProcess({
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
    await Promise.all(nodes.map((node) => node.ready()));
    const startedAt = Date.now();
    // The exercise lasts ~20 s of wall time; nothing below depends on how much got done in it
    // beyond a sanity floor.
    await until(() => Date.now() - startedAt >= 20_000 || nodes.some((node) => node.exit !== null), '20 s pass');
    for (const node of nodes) expect(node.exit, `died early:\n${node.describe()}`).toBeNull();
    await Promise.all(nodes.map((node) => node.terminate()));
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

    const problems: string[] = [];
    const bySchedule = new Map<string, Map<number, string[]>>();
    const note = (scheduleId: string | null, fireTime: number | null, what: string) => {
      if (scheduleId === null || fireTime === null) {
        problems.push(`a record without schedule or fire time: ${what}`);
        return;
      }
      const fires = bySchedule.get(scheduleId) ?? new Map<number, string[]>();
      bySchedule.set(scheduleId, fires);
      fires.set(fireTime, [...(fires.get(fireTime) ?? []), what]);
    };
    for (const e of executions) {
      note(
        e.schedule_id,
        e.fire_time,
        `${e.outcome} on ${e.node} (attempt ${e.attempt}${e.error_name ? `, ${e.error_name}` : ''})`,
      );
    }
    // Jobs made by the last fires but not yet run when the cluster stopped: handed on, not lost.
    for (const job of leftover) {
      if (job.status !== 'pending') problems.push(`job ${job.id} left ${job.status} after a graceful stop`);
      note(job.schedule_id, job.fire_time, `left ${job.status} (attempt ${job.attempt})`);
    }
    expect(bySchedule.size, 'schedules with records').toBe(50);
    for (const [scheduleId, fires] of [...bySchedule].sort(([a], [b]) => a.localeCompare(b))) {
      const times = [...fires.keys()].sort((a, b) => a - b);
      if (times.length < 5) problems.push(`${scheduleId}: only ${times.length} fires in ~20 s`);
      for (const [time, records] of fires) {
        if (records.length !== 1 || !records[0]?.startsWith('succeeded')) {
          const pendingTail = records.length === 1 && records[0]?.startsWith('left pending') && time === times.at(-1);
          if (!pendingTail) problems.push(`${scheduleId} @ ${iso(time)}: ${records.join('; ')}`);
        }
      }
      for (let i = 1; i < times.length; i++) {
        const [before, after] = [times[i - 1] as number, times[i] as number];
        if (after - before !== 1000) problems.push(`${scheduleId}: no record between ${iso(before)} and ${iso(after)}`);
      }
    }

    // The task bodies agree with the table: each ran exactly once per fire, in the node recorded.
    const recorded = new Map(
      executions
        .filter((e) => e.outcome === 'succeeded')
        .map((e) => [`${e.schedule_id} @ ${iso(e.fire_time)}`, e.node]),
    );
    const ran = new Map<string, string[]>();
    for (const run of nodes.flatMap((node) => node.runs())) {
      const key = `${run.scheduleId} @ ${run.fireTime}`;
      ran.set(key, [...(ran.get(key) ?? []), `${run.node} (attempt ${run.attempt})`]);
    }
    for (const [key, runners] of ran) {
      if (runners.length !== 1)
        problems.push(`task body ran ${runners.length} times for ${key}: ${runners.join(', ')}`);
      else if (recorded.get(key) === undefined) problems.push(`task body ran for ${key} without a succeeded record`);
      else if (!runners[0]?.startsWith(`${recorded.get(key)} `))
        problems.push(`${key} ran on ${runners[0]} but is recorded on ${recorded.get(key)}`);
    }
    for (const key of recorded.keys())
      if (!ran.has(key)) problems.push(`${key} recorded succeeded, task body never ran`);

    expect(problems.slice(0, 40), `${problems.length} problem(s)`).toEqual([]);
    const perNode = new Map<string, number>();
    for (const e of executions) perNode.set(String(e.node), (perNode.get(String(e.node)) ?? 0) + 1);
    expect(perNode.size, `runs per node: ${JSON.stringify([...perNode])}`).toBeGreaterThan(1);
  }, 90_000);

  it.each(DRIVERS)(
    '%s: a job added by a process that never starts is started by a running one within 1 s',
    async (driver) => {
      const { path, log } = fresh();
      const worker = new NodeProcess({ path, driver, nodeId: 'worker', runLog: log('worker') });
      await worker.ready();
      // The "web process": adds 10 jobs 300 ms apart (so each is noticed on its own) and exits.
      const web = new NodeProcess({
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
        await until(() => {
          executions = query<ExecutionRow>(db, `SELECT * FROM kairos_executions WHERE job_id IN (${marks})`, ...ids);
          return executions.length === ids.length;
        }, `the 10 jobs are recorded\n${worker.describe()}`);
      } finally {
        db.close();
      }
      await worker.terminate();

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
      const a = new NodeProcess({
        path,
        driver,
        nodeId: 'A',
        runLog: log('A'),
        leaseDuration: '2s',
        jobs: { task: 'long-once', count: 1, gapMs: 0 },
      });
      await a.ready();
      const [jobId] = a.jobIds();
      expect(jobId, a.describe()).toBeDefined();
      const db = new BetterSqlite3(path);
      try {
        const job = () => query<JobRow>(db, 'SELECT * FROM kairos_jobs WHERE id = ?', jobId)[0];
        await until(() => job()?.status === 'running', `A runs the job\n${a.describe()}`);
        expect(job()).toMatchObject({ acquired_by: 'A', attempt: 1 });
        // B (default lease: the takeover follows the job's lease, set by A) is running before the kill.
        const b = new NodeProcess({ path, driver, nodeId: 'B', runLog: log('B') });
        await b.ready();

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
          `B records A's attempt abandoned and runs the job again\n${b.describe()}`,
        );
        await b.terminate();

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
