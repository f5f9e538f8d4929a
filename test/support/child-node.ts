// A Kairos node as a real OS process, seen from a test: spawn a fixture script (see
// test/stores/postgres/fixtures/node-process.ts and test/stores/sqlite/fixtures/node-process.ts)
// with its JSON config, follow its output, wait for it, stop it gracefully or kill it.
// Store-independent: the fixture decides what store it opens. The fixture side of this protocol
// (recording runs, ready/stopped lines) is test/support/child-node-fixture.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What every fixture config carries: the node's identity and where its task bodies log their runs. */
export interface ChildNodeConfig {
  nodeId: string;
  /** A file the process appends one JSON line (a `RunLine`) to whenever a task starts. */
  runLog: string;
}

/** One task start, as the task body itself saw it (independent of what the store recorded). */
export interface RunLine {
  node: string;
  pid: number;
  task: string;
  jobId: string;
  scheduleId: string | null;
  fireTime: string | null;
  attempt: number;
  /** Epoch ms on the process's system clock (not the scheduler's clock, which may be skewed). */
  at: number;
}

const live = new Set<ChildNode<ChildNodeConfig>>();

/** Kills (SIGKILL, by handle) every child still running: for `afterEach`, so a failed test leaves nothing behind. */
export async function killLiveChildren(): Promise<void> {
  const left = [...live];
  for (const node of left) node.child.kill('SIGKILL');
  await Promise.all(left.map((node) => node.exited));
}

/**
 * A fixture process: its output lines, and a promise of its exit. The fixture prints `ready <id>`
 * once its scheduler runs, `job <id>` for each job it added, and `stopped <id>` after a graceful
 * stop on SIGTERM (then exits 0).
 */
export class ChildNode<Config extends ChildNodeConfig> {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<void>;
  readonly config: Config;

  constructor(fixture: string, config: Config) {
    this.config = config;
    this.child = spawn(process.execPath, ['--conditions=kairos-source', fixture, JSON.stringify(config)], {
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

  /** State and output, for failure messages (long outputs shortened in the middle). */
  describe(): string {
    const exit = this.exit === null ? 'running' : `exited (code ${this.exit.code}, signal ${this.exit.signal})`;
    const stdout = this.lines.filter((line) => !line.startsWith('job ')).join(' | ');
    const jobs = this.jobIds().length;
    return `${this.name} [${exit}]\n  stdout: ${stdout}${jobs > 0 ? ` (+${jobs} job lines)` : ''}\n  stderr: ${shorten(this.stderr.trim()) || '(empty)'}`;
  }

  /** Waits for the `ready` line (the scheduler has started). */
  async ready(timeoutMs = 30_000): Promise<void> {
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
  async terminate(timeoutMs = 30_000): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exitedWithin(timeoutMs);
    expect(this.exit, this.describe()).toEqual({ code: 0, signal: null });
    expect(this.lines, this.describe()).toContain(`stopped ${this.name}`);
  }

  async exitedWithin(timeoutMs: number): Promise<void> {
    await until(
      () => this.exit !== null,
      () => `${this.name} exits\n${this.describe()}`,
      timeoutMs,
    );
  }

  /** What it printed as `claimed <schedules> <jobs>` on a graceful stop (null before that). */
  claimed(): { schedules: number; jobs: number } | null {
    const line = this.lines.find((l) => l.startsWith('claimed '));
    if (line === undefined) return null;
    const [schedules, jobs] = line.slice(8).split(' ').map(Number);
    return { schedules: schedules ?? Number.NaN, jobs: jobs ?? Number.NaN };
  }

  /** What its task bodies logged. */
  runs(): RunLine[] {
    if (!existsSync(this.config.runLog)) return [];
    return readFileSync(this.config.runLog, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as RunLine);
  }
}

function shorten(text: string, max = 6000): string {
  return text.length <= max
    ? text
    : `${text.slice(0, max / 2)}\n  [... ${text.length - max} chars ...]\n${text.slice(-max / 2)}`;
}

/**
 * Waits, in real time and with a deadline, until `check` holds. `check` may be async (a database
 * query); if it throws, the wait fails at once with that error, unless `tolerate` says the error is
 * expected for now (e.g. the database is restarting), in which case it is retried until the deadline.
 * `what` (or what it returns, when the wait fails) says what was awaited.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 20_000,
  everyMs = 50,
  tolerate: (error: unknown) => boolean = () => false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      if (await check()) return;
      lastError = null;
    } catch (error) {
      if (!tolerate(error)) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      const last = lastError === null ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting until ${typeof what === 'string' ? what : what()}${last}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** One record of a (schedule, fire time): an execution, or a job still in the table. */
export interface FireRecord {
  scheduleId: string | null;
  fireTime: number | null;
  /** `succeeded`, `missed`, ... for executions; `left <status>` for jobs still in the table. */
  outcome: string;
  node: string | null;
  attempt: number;
  errorName?: string | null;
}

export interface FireCheckOptions {
  /** The schedules expected to have records (ids). */
  scheduleIds: readonly string[];
  /** The trigger's period: consecutive recorded fire times must be this far apart (no gap). */
  periodMs: number;
  /** Each schedule must have at least this many fire times recorded. */
  minFires: number;
  /**
   * `exactly-once`: every fire time is one `succeeded` record (a pending job left by a graceful
   * stop is accepted for the last fire times), with no gap. `at-most-once`: no fire time has more
   * than one record that ran it (succeeded, or a job left behind), and no record is a duplicate;
   * gaps and `missed`/`skipped` records are allowed (misfire and coalesce rules).
   */
  mode: 'exactly-once' | 'at-most-once';
  /**
   * Every task body run must belong to a schedule: a run without one is a problem. (Default: such
   * runs, of jobs added directly, are not checked.)
   */
  everyRunScheduled?: boolean;
}

const iso = (ms: number | null) => (ms === null ? 'null' : new Date(ms).toISOString());

/**
 * Checks the store's records of scheduled fires and what the task bodies did, and returns every
 * problem found (empty: all good). The task bodies are the ground truth for "ran once": each
 * (schedule, fire time) ran at most once, in the node that recorded it succeeded.
 */
export function checkFires(
  records: readonly FireRecord[],
  runs: readonly RunLine[],
  options: FireCheckOptions,
): string[] {
  const problems: string[] = [];
  const bySchedule = new Map<string, Map<number, FireRecord[]>>();
  for (const record of records) {
    if (record.scheduleId === null || record.fireTime === null) {
      problems.push(`a record without schedule or fire time: ${JSON.stringify(record)}`);
      continue;
    }
    const fires = bySchedule.get(record.scheduleId) ?? new Map<number, FireRecord[]>();
    bySchedule.set(record.scheduleId, fires);
    fires.set(record.fireTime, [...(fires.get(record.fireTime) ?? []), record]);
  }
  const describe = (r: FireRecord) =>
    `${r.outcome} on ${r.node} (attempt ${r.attempt}${r.errorName ? `, ${r.errorName}` : ''})`;

  const missing = options.scheduleIds.filter((id) => !bySchedule.has(id));
  if (missing.length > 0) problems.push(`no records at all for ${missing.length} schedule(s): ${missing.slice(0, 5)}`);
  for (const id of bySchedule.keys())
    if (!options.scheduleIds.includes(id)) problems.push(`records for an unknown schedule ${id}`);

  for (const [scheduleId, fires] of [...bySchedule].sort(([a], [b]) => a.localeCompare(b))) {
    const times = [...fires.keys()].sort((a, b) => a - b);
    if (times.length < options.minFires)
      problems.push(`${scheduleId}: only ${times.length} fire times recorded (expected >= ${options.minFires})`);
    for (const time of times) {
      const list = fires.get(time) as FireRecord[];
      const ran = list.filter((r) => r.outcome === 'succeeded' || r.outcome.startsWith('left '));
      if (options.mode === 'exactly-once') {
        const ok =
          list.length === 1 &&
          (list[0]?.outcome === 'succeeded' || (list[0]?.outcome === 'left pending' && time === times.at(-1)));
        if (!ok) problems.push(`${scheduleId} @ ${iso(time)}: ${list.map(describe).join('; ')}`);
      } else if (ran.length > 1 || list.filter((r) => r.outcome !== 'abandoned').length > 1) {
        problems.push(`${scheduleId} @ ${iso(time)} recorded more than once: ${list.map(describe).join('; ')}`);
      }
    }
    if (options.mode === 'exactly-once') {
      for (let i = 1; i < times.length; i++) {
        const [before, after] = [times[i - 1] as number, times[i] as number];
        if (after - before !== options.periodMs)
          problems.push(`${scheduleId}: no record between ${iso(before)} and ${iso(after)}`);
      }
    }
  }

  // The task bodies agree with the records: each fire ran once, in the node that recorded it succeeded.
  const recorded = new Map<string, string | null>();
  for (const r of records) if (r.outcome === 'succeeded') recorded.set(`${r.scheduleId} @ ${iso(r.fireTime)}`, r.node);
  const ran = new Map<string, string[]>();
  for (const run of runs) {
    if (run.scheduleId === null) {
      if (options.everyRunScheduled)
        problems.push(`task body ran outside any schedule: ${run.task} job ${run.jobId} on ${run.node}`);
      continue;
    }
    const key = `${run.scheduleId} @ ${run.fireTime}`;
    ran.set(key, [...(ran.get(key) ?? []), `${run.node} (attempt ${run.attempt})`]);
  }
  for (const [key, runners] of ran) {
    if (runners.length !== 1) problems.push(`task body ran ${runners.length} times for ${key}: ${runners.join(', ')}`);
    else if (recorded.get(key) === undefined) problems.push(`task body ran for ${key} without a succeeded record`);
    else if (!runners[0]?.startsWith(`${recorded.get(key)} `))
      problems.push(`${key} ran on ${runners[0]} but is recorded on ${recorded.get(key)}`);
  }
  for (const key of recorded.keys()) if (!ran.has(key)) problems.push(`${key} recorded succeeded, task body never ran`);
  return problems;
}
