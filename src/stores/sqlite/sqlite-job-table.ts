import type { JobRequeue, LeaseRef, LeaseStatus, TaskLimit } from '../data-store.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../paging.ts';
import type { JobQuery, Page } from '../queries.ts';
import type { JobRecord } from '../records.ts';
import { isHeldAttempt } from '../store-records.ts';
import type { SqliteConnection, SqlValue } from './sqlite-connection.ts';
import { IN_LIST, list } from './sqlite-lists.ts';
import { JOB_INSERT_COLUMNS, type JobRow, jobFromRow, jobValues, ms } from './sqlite-rows.ts';

/** Candidates read per round of an acquire, beyond the jobs wanted (some may be held back by caps). */
const CANDIDATE_SLACK = 50;
const MAX_CANDIDATE_ROUNDS = 5;

/** The columns of a job but its arguments: candidates are read without them (see `acquire`). */
const CANDIDATE_COLUMNS = `id, task, schedule_id, fire_time, run_at, start_deadline, attempt, max_attempts, failed_runs,
  abandon_retries, max_instances, status, acquired_by, acquired_until, started_at, cancel_requested, created_at`;

/**
 * Jobs in SQLite. Every method runs inside the caller's transaction; acquires run under
 * `BEGIN IMMEDIATE`, so their counting of running jobs (max instances, task caps) is exact even
 * with several processes on one file.
 */
export class SqliteJobTable {
  /** The table's name. */
  readonly t: string;

  constructor(prefix: string) {
    this.t = `${prefix}jobs`;
  }

  /** Inserts a pending job; false when its id, or its (schedule, fire time), is taken already. */
  insert(db: SqliteConnection, job: JobRecord): boolean {
    return (
      db.run(
        `INSERT INTO ${this.t} (${JOB_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING`,
        ...jobValues(job),
      ) > 0
    );
  }

  /** Jobs of the schedule pending or running (finished jobs are deleted). */
  activeCount(db: SqliteConnection, scheduleId: string): number {
    return db.get<{ n: number }>(`SELECT count(*) AS n FROM ${this.t} WHERE schedule_id = ?`, scheduleId)?.n ?? 0;
  }

  acquire(
    db: SqliteConnection,
    node: string,
    leaseMs: number,
    limit: number,
    tasks: readonly TaskLimit[],
    now: number,
    startNow = limit,
  ): JobRecord[] {
    if (tasks.length === 0) return [];
    const taskRunning = this.runningByTask(db, tasks);
    const open = tasks.filter(
      (task) => task.maxRunningJobs === null || (taskRunning.get(task.name) ?? 0) < task.maxRunningJobs,
    );
    if (open.length === 0) return [];
    const caps = new Map(open.map((task) => [task.name, task.maxRunningJobs]));
    const scheduleRunning = new Map<string, number>();
    const picked: Array<Omit<JobRow, 'args'>> = [];
    /** Schedules that reached max instances within this acquire: later rounds leave their jobs out. */
    const saturated = new Set<string>();
    let after: [number, string] | null = null;
    rounds: for (let round = 0; round < MAX_CANDIDATE_ROUNDS && picked.length < limit; round++) {
      const names = [...caps.keys()];
      if (names.length === 0) break;
      const full = [...saturated];
      // Without their arguments: up to `limit + 50` candidates are read per round, and arguments
      // may be large; the claimed ones come back with theirs from the update below.
      const rows = db.all<Omit<JobRow, 'args'>>(
        `SELECT ${CANDIDATE_COLUMNS} FROM ${this.t}
         WHERE status = 'pending' AND run_at <= ? AND task ${IN_LIST}
           ${after ? 'AND (run_at > ? OR (run_at = ? AND id > ?))' : ''}
           ${full.length > 0 ? `AND (schedule_id IS NULL OR schedule_id NOT ${IN_LIST})` : ''}
           -- Jobs of a schedule already at max instances wait; they must not crowd out due jobs behind them.
           AND (max_instances IS NULL OR (SELECT count(*) FROM ${this.t} AS r
                 WHERE r.schedule_id = ${this.t}.schedule_id AND r.status = 'running') < max_instances)
         ORDER BY run_at, id LIMIT ?`,
        now,
        list(names),
        ...(after ? [after[0], after[0], after[1]] : []),
        ...(full.length > 0 ? [list(full)] : []),
        limit - picked.length + CANDIDATE_SLACK,
      );
      if (rows.length === 0) break;
      this.loadScheduleRunning(db, rows, scheduleRunning);
      for (const row of rows) {
        if (picked.length >= limit) break;
        const cap = caps.get(row.task);
        if (cap === undefined) continue; // its task reached its cap during this acquire
        // Nothing behind it is claimed to wait (see AcquireJobsOptions.startNow).
        if (picked.length >= startNow && row.abandon_retries === 0) break rounds;
        if (
          row.schedule_id !== null &&
          row.max_instances !== null &&
          (scheduleRunning.get(row.schedule_id) ?? 0) >= row.max_instances
        ) {
          saturated.add(row.schedule_id);
          continue;
        }
        picked.push(row);
        if (row.schedule_id !== null)
          scheduleRunning.set(row.schedule_id, (scheduleRunning.get(row.schedule_id) ?? 0) + 1);
        const running = (taskRunning.get(row.task) ?? 0) + 1;
        taskRunning.set(row.task, running);
        if (cap !== null && running >= cap) caps.delete(row.task);
      }
      const last = rows.at(-1) as Omit<JobRow, 'args'>;
      after = [last.run_at, last.id];
    }
    if (picked.length === 0) return [];
    const until = now + leaseMs;
    // Each job's abandonment budget lowered to this node's for its task (see `TaskLimit.abandonRetries`).
    const budgets = new Map(
      tasks.flatMap((task) => (task.abandonRetries === undefined ? [] : [[task.name, task.abandonRetries]])),
    );
    const claimed = db.all<{ id: string; args: string; abandon_retries: number }>(
      `UPDATE ${this.t} SET status = 'running', acquired_by = ?, acquired_until = ?, started_at = ?,
         abandon_retries = min(abandon_retries, coalesce((SELECT value FROM json_each(?) WHERE key = task), abandon_retries))
       WHERE id ${IN_LIST}
       RETURNING id, args, abandon_retries`,
      node,
      until,
      now,
      JSON.stringify(Object.fromEntries(budgets)),
      list(picked.map((row) => row.id)),
    );
    const byId = new Map(claimed.map((row) => [row.id, row]));
    return picked.map((row) =>
      jobFromRow({
        ...row,
        args: byId.get(row.id)?.args as string,
        abandon_retries: byId.get(row.id)?.abandon_retries ?? row.abandon_retries,
        status: 'running',
        acquired_by: node,
        acquired_until: until,
        started_at: now,
      }),
    );
  }

  /** Leases one pending job to `node` by id (a fired job its node starts itself); null if it cannot. */
  claim(db: SqliteConnection, id: string, node: string, leaseMs: number, now: number): JobRecord | null {
    // A job fired ahead starts at its run time.
    const row = db.get<JobRow>(
      `UPDATE ${this.t} SET status = 'running', acquired_by = ?, acquired_until = ?, started_at = max(?, run_at)
       WHERE id = ? AND status = 'pending' RETURNING *`,
      node,
      now + leaseMs,
      now,
      id,
    );
    return row === undefined ? null : jobFromRow(row);
  }

  /**
   * Finishes (deletes) or re-queues the attempt this node holds (the claim that started at
   * `claimedAt`, when given); false if it no longer holds that attempt.
   */
  finish(
    db: SqliteConnection,
    node: string,
    jobId: string,
    attempt: number,
    claimedAt: number | null,
    requeue: JobRequeue | null | undefined,
    now: number,
  ): boolean {
    // The claim's start only when given (hand-backs): the statement of every finished run stays as lean as it was.
    const held = `AND status = 'running' AND acquired_by = ? AND attempt = ?${claimedAt === null ? '' : ' AND started_at = ?'}`;
    const heldBy = claimedAt === null ? [node, attempt] : [node, attempt, claimedAt];
    if (!requeue) return db.run(`DELETE FROM ${this.t} WHERE id = ? ${held}`, jobId, ...heldBy) > 0;
    return this.requeue(db, jobId, requeue, now, held, ...heldBy) > 0;
  }

  /** Puts a job back as pending (due `now` if its cancel was asked for: see the PostgreSQL store's `requeueSet`). */
  requeue(
    db: SqliteConnection,
    jobId: string,
    requeue: JobRequeue,
    now: number,
    condition = '',
    ...conditionValues: SqlValue[]
  ): number {
    return db.run(
      `UPDATE ${this.t} SET status = 'pending', run_at = CASE WHEN cancel_requested = 1 THEN min(?, ?) ELSE ? END,
         start_deadline = ?, attempt = ?, abandon_retries = ?, failed_runs = ?,
         acquired_by = NULL, acquired_until = NULL, started_at = NULL
       WHERE id = ? ${condition}`,
      requeue.runAt.getTime(),
      now,
      requeue.runAt.getTime(),
      ms(requeue.startDeadline),
      requeue.attempt,
      requeue.abandonRetries,
      requeue.failedRuns,
      jobId,
      ...conditionValues,
    );
  }

  delete(db: SqliteConnection, jobId: string): void {
    db.run(`DELETE FROM ${this.t} WHERE id = ?`, jobId);
  }

  nextRunTime(db: SqliteConnection, tasks: readonly TaskLimit[], after: number): number | null {
    const running = this.runningByTask(db, tasks);
    const open = tasks
      .filter((task) => task.maxRunningJobs === null || (running.get(task.name) ?? 0) < task.maxRunningJobs)
      .map((task) => task.name);
    if (open.length === 0) return null;
    return (
      db.get<{ next: number | null }>(
        `SELECT min(run_at) AS next FROM ${this.t} WHERE status = 'pending' AND run_at > ? AND task ${IN_LIST}`,
        after,
        list(open),
      )?.next ?? null
    );
  }

  earliestLeaseExpiry(db: SqliteConnection): number | null {
    return (
      db.get<{ next: number | null }>(`SELECT min(acquired_until) AS next FROM ${this.t} WHERE status = 'running'`)
        ?.next ?? null
    );
  }

  extend(db: SqliteConnection, node: string, leaseMs: number, jobs: readonly LeaseRef[], now: number): LeaseStatus {
    const lost: string[] = [];
    const cancelRequested: string[] = [];
    for (const { id, attempt } of jobs) {
      const row = db.get<{ cancel_requested: number }>(
        `UPDATE ${this.t} SET acquired_until = ? WHERE id = ? AND status = 'running' AND acquired_by = ? AND attempt = ?
         RETURNING cancel_requested`,
        now + leaseMs,
        id,
        node,
        attempt,
      );
      if (row === undefined) lost.push(id);
      else if (row.cancel_requested === 1) cancelRequested.push(id);
    }
    return { lost, cancelRequested };
  }

  /** See `DataStore.handBackStrayJobs`. */
  handBackStray(
    db: SqliteConnection,
    node: string,
    held: readonly LeaseRef[],
    leasedBeyond: number,
    claimedSince: number,
  ): JobRecord[] {
    const isHeld = isHeldAttempt(held);
    const stray = db
      .all<JobRow>(
        `SELECT * FROM ${this.t} WHERE status = 'running' AND acquired_by = ? AND acquired_until > ? AND started_at >= ?`,
        node,
        leasedBeyond,
        claimedSince,
      )
      .map(jobFromRow)
      .filter((job) => !isHeld(job));
    for (const job of stray) {
      db.run(
        `UPDATE ${this.t} SET status = 'pending', acquired_by = NULL, acquired_until = NULL, started_at = NULL WHERE id = ?`,
        job.id,
      );
    }
    return stray.map((job) => ({ ...job, status: 'pending', acquiredBy: null, acquiredUntil: null, startedAt: null }));
  }

  expired(db: SqliteConnection, now: number): JobRecord[] {
    return db
      .all<JobRow>(`SELECT * FROM ${this.t} WHERE status = 'running' AND acquired_until <= ?`, now)
      .map(jobFromRow);
  }

  get(db: SqliteConnection, id: string): JobRecord | undefined {
    const row = db.get<JobRow>(`SELECT * FROM ${this.t} WHERE id = ?`, id);
    return row === undefined ? undefined : jobFromRow(row);
  }

  markCancelRequested(db: SqliteConnection, id: string): void {
    db.run(`UPDATE ${this.t} SET cancel_requested = 1 WHERE id = ? AND status = 'running'`, id);
  }

  query(db: SqliteConnection, query: JobQuery): Page<JobRecord> {
    const limit = pageLimit(query.limit);
    const where: string[] = [];
    const values: SqlValue[] = [];
    if (query.cursor) {
      const [runAt, id] = decodeCursor(query.cursor, ['number', 'string'] as const);
      where.push('(run_at > ? OR (run_at = ? AND id > ?))');
      values.push(runAt, runAt, id);
    }
    if (query.ids !== undefined) {
      if (query.ids.length === 0) return { items: [], nextCursor: null };
      where.push(`id ${IN_LIST}`);
      values.push(list(query.ids));
    }
    if (query.task !== undefined) {
      where.push('task = ?');
      values.push(query.task);
    }
    if (query.scheduleId !== undefined) {
      where.push('schedule_id = ?');
      values.push(query.scheduleId);
    }
    if (query.status !== undefined) {
      where.push('status = ?');
      values.push(query.status);
    }
    const rows = db.all<JobRow>(
      `SELECT * FROM ${this.t} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY run_at, id LIMIT ?`,
      ...values,
      limit + 1,
    );
    const items = rows.slice(0, limit).map(jobFromRow);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.runAt.getTime(), last.id]) : null };
  }

  private runningByTask(db: SqliteConnection, tasks: readonly TaskLimit[]): Map<string, number> {
    const capped = tasks.filter((task) => task.maxRunningJobs !== null).map((task) => task.name);
    if (capped.length === 0) return new Map();
    const rows = db.all<{ task: string; n: number }>(
      `SELECT task, count(*) AS n FROM ${this.t} WHERE status = 'running' AND task ${IN_LIST} GROUP BY task`,
      list(capped),
    );
    return new Map(rows.map((row) => [row.task, row.n]));
  }

  private loadScheduleRunning(
    db: SqliteConnection,
    rows: ReadonlyArray<Omit<JobRow, 'args'>>,
    counts: Map<string, number>,
  ): void {
    const ids = [
      ...new Set(
        rows
          .filter((row) => row.schedule_id !== null && row.max_instances !== null && !counts.has(row.schedule_id))
          .map((row) => row.schedule_id as string),
      ),
    ];
    if (ids.length === 0) return;
    for (const id of ids) counts.set(id, 0);
    const running = db.all<{ schedule_id: string; n: number }>(
      `SELECT schedule_id, count(*) AS n FROM ${this.t} WHERE status = 'running' AND schedule_id ${IN_LIST} GROUP BY schedule_id`,
      list(ids),
    );
    for (const row of running) counts.set(row.schedule_id, row.n);
  }
}
