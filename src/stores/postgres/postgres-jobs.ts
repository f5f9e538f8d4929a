import type { JobRelease, JobRequeue, JobWakeTimes, TaskLimit } from '../data-store.ts';
import type { JobRecord } from '../records.ts';
import { attemptKey, handedBackClaim, releasedAttempt } from '../store-records.ts';
import { EXECUTION_COLUMNS, executionArrays, executionRows, type JobRow, jobFromRow } from './pg-rows.ts';
import { pgArrayLiteral } from './pg-arrays.ts';
import type { PgQueryable } from './pg-types.ts';

/** Candidates read beyond the jobs wanted, since caps may hold some back. */
const CANDIDATE_SLACK = 50;
const MAX_CANDIDATE_ROUNDS = 5;

/**
 * Job acquisition on PostgreSQL. Candidates are claimed with `FOR UPDATE SKIP LOCKED`, so nodes
 * never wait on each other. Cluster-wide caps (a schedule's `maxInstances`, a task's
 * `maxRunningJobs`) need a count that no other node changes meanwhile: a transaction-scoped
 * advisory lock per schedule or task serialises just those decisions; a node that cannot take the
 * lock at once leaves those jobs to the node that holds it.
 */
/**
 * The fast path, one statement: claims due jobs that no cap applies to (one-off jobs of uncapped
 * tasks), and says whether capped jobs are due too (those need `acquireCappedJobs`).
 */
export async function acquireUncappedJobs(
  client: PgQueryable,
  s: string,
  now: string,
  node: string,
  leaseMs: number,
  limit: number,
  tasks: readonly TaskLimit[],
  startNow = limit,
): Promise<{ now: Date; jobs: JobRecord[]; cappedDue: boolean; heldBackTasks: string[]; next: JobWakeTimes }> {
  const names = tasks.map((task) => task.name);
  const cappedTasks = tasks.filter((task) => task.maxRunningJobs !== null);
  const capped = cappedTasks.map((task) => task.name);
  type ClaimRow = Omit<JobRow, ClaimedKnown> & {
    store_now: Date | null;
    capped_due: boolean | null;
    held_back: string[] | null;
    next_run_at: Date | null;
    lease_expiry: Date | null;
  };
  // Each variant below is its own prepared statement: the plain claim is planned for every call
  // (custom plans; generic ones measured far worse), so it carries no more SQL than it needs.
  const params: unknown[] = [names, capped, limit, node, leaseMs];
  const param = (value: unknown) => `$${params.push(value)}`;
  const cap = capped.length === 0 ? null : { names: '$2', max: param(cappedTasks.map((task) => task.maxRunningJobs)) };
  const claim = startNow >= limit ? plainClaim(s, now) : queueingClaim(s, now, param(startNow));
  const budgets = param(tasks.map((task) => task.abandonRetries ?? null));
  const { rows } = await client.query<ClaimRow>(
    // The claimed ids go in as an array, so the update finds its rows through the primary key (a
    // join with the CTE lets the planner pick a scan of the whole table). One row says what the
    // time is, whether capped jobs are due and when to look again; each claimed job comes back
    // without the columns this claim just set (the node knows them), so they are neither printed
    // nor parsed per job.
    `WITH ${claim.ctes}
     taken AS (
       UPDATE ${s}.jobs j SET status = 'running', acquired_by = $4, acquired_until = ${now} + $5 * interval '1 millisecond',
         started_at = ${now}, abandon_retries = ${loweredBudget('j', budgets, '$1')}
       WHERE j.id = ANY(ARRAY(${claim.ids}))
       RETURNING ${CLAIMED_COLUMNS})
     SELECT ${now} AS store_now,
       (one.instances_capped_due
        ${cap === null ? '' : `OR EXISTS (SELECT 1 FROM ${s}.jobs WHERE status = 'pending' AND task = ANY($2::text[]) AND run_at <= ${now})`}
       ) AS capped_due,
       CASE WHEN one.instances_capped_due THEN (${HELD_BACK_TASKS(s, now)}) END AS held_back,
       -- What nextJobTimes would answer (before this claim's own leases, which are this node's).
       ${NEXT_RUN_AT(s, now, '$1', cap)} AS next_run_at,
       ${LEASE_EXPIRY(s)} AS lease_expiry,
       none.*
     -- The join with none of the claimed rows gives this row the job columns, NULL, typed for the UNION.
     FROM (SELECT EXISTS (SELECT 1 FROM ${s}.jobs WHERE status = 'pending' AND max_instances IS NOT NULL
            AND run_at <= ${now} AND task = ANY($1::text[])) AS instances_capped_due) AS one
       LEFT JOIN (SELECT * FROM taken LIMIT 0) AS none ON true
     UNION ALL
     SELECT NULL, NULL, NULL, NULL, NULL, taken.* FROM taken`,
    params,
  );
  const meta = rows.find((row) => row.id === null);
  const storeNow = meta?.store_now ?? new Date();
  const jobs = rows
    .filter((row) => row.id !== null)
    .map((row) =>
      jobFromRow({
        ...row,
        status: 'running',
        acquired_by: node,
        acquired_until: new Date(storeNow.getTime() + leaseMs),
        started_at: new Date(storeNow.getTime()),
      }),
    )
    .sort((a, b) => a.runAt.getTime() - b.runAt.getTime() || (a.id < b.id ? -1 : 1));
  return {
    now: storeNow,
    jobs,
    cappedDue: meta?.capped_due ?? false,
    heldBackTasks: [...(meta?.held_back ?? [])].sort(),
    next: { runAt: meta?.next_run_at ?? null, leaseExpiry: meta?.lease_expiry ?? null },
  };
}

/**
 * SQL for a JSON array of the node's tasks ($1) with due jobs that wait for a place of their
 * schedule's `maxInstances` taken by a run on another node ($4: this node), or null if none (see
 * `AcquiredJobs.heldBackTasks`). From the running jobs, which are few (one per slot in the cluster),
 * not the pending ones, which a `coalesce: 'all'` backlog can make many. A place held by this
 * node's own run needs no listening: its end wakes this node's loop.
 */
const HELD_BACK_TASKS = (s: string, now: string) =>
  `SELECT json_agg(DISTINCT t.task) FROM (
     SELECT schedule_id, count(*) AS running FROM ${s}.jobs
     WHERE status = 'running' AND schedule_id IS NOT NULL
     GROUP BY schedule_id HAVING bool_or(acquired_by <> $4)) AS r,
   LATERAL (SELECT p.task FROM ${s}.jobs p WHERE p.schedule_id = r.schedule_id AND p.status = 'pending'
     AND p.run_at <= ${now} AND p.max_instances <= r.running AND p.task = ANY($1::text[]) LIMIT 1) AS t`;

/**
 * The earliest run time after `after` of a pending job of the node's tasks (`names`), leaving out
 * tasks at their cap (`cap`: parallel arrays of capped task names and their caps, if any). SQL
 * expressions and parameters.
 */
export const NEXT_RUN_AT = (s: string, after: string, names: string, cap: { names: string; max: string } | null) =>
  `(SELECT min(run_at) FROM ${s}.jobs j WHERE j.status = 'pending' AND j.run_at > ${after} AND j.task = ANY(${names}::text[])
     ${
       cap === null
         ? ''
         : `AND NOT EXISTS (SELECT 1 FROM unnest(${cap.names}::text[], ${cap.max}::int[]) AS c(task, max)
              WHERE c.task = j.task AND (SELECT count(*) FROM ${s}.jobs r WHERE r.status = 'running' AND r.task = c.task) >= c.max)`
     })`;

/** The earliest lease expiry of a running job, of any node: when abandoned jobs must be looked for. */
export const LEASE_EXPIRY = (s: string) => `(SELECT min(acquired_until) FROM ${s}.jobs WHERE status = 'running')`;

/** The ids of up to $3 due jobs no cap applies to, locked, for the node's free slots. */
function plainClaim(s: string, now: string) {
  return {
    ctes: '',
    ids: `SELECT id FROM ${s}.jobs WHERE ${UNCAPPED_DUE(s, now)} ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
  };
}

/**
 * The same when only `startNow` of the $3 start at once and the others wait on the node: past the
 * first `startNow`, only jobs that may be re-run are claimed, up to the first due job that may not
 * (see `AcquireJobsOptions.startNow`); it then waits for a node with a free slot, and nothing
 * claimed later overtakes it.
 */
function queueingClaim(s: string, now: string, startNow: string) {
  return {
    ctes: `startable AS (
       SELECT id, run_at FROM ${s}.jobs
       WHERE ${UNCAPPED_DUE(s, now)}
       ORDER BY run_at, id LIMIT ${startNow}::int FOR UPDATE SKIP LOCKED),
     after_startable AS (SELECT run_at, id FROM startable ORDER BY run_at DESC, id DESC LIMIT 1),
     barrier AS MATERIALIZED (
       SELECT run_at, id FROM ${s}.jobs
       WHERE ${UNCAPPED_DUE(s, now)} AND abandon_retries = 0
         AND (${startNow}::int = 0 OR (run_at, id) > (SELECT run_at, id FROM after_startable))
       ORDER BY run_at, id LIMIT 1),
     waiting AS (
       SELECT id FROM ${s}.jobs j
       WHERE ${UNCAPPED_DUE(s, now)} AND abandon_retries > 0
         AND (${startNow}::int = 0 OR (run_at, id) > (SELECT run_at, id FROM after_startable))
         AND NOT EXISTS (SELECT 1 FROM barrier b WHERE (b.run_at, b.id) < (j.run_at, j.id))
       ORDER BY run_at, id LIMIT $3::int - ${startNow}::int FOR UPDATE SKIP LOCKED),`,
    ids: 'SELECT id FROM startable UNION ALL SELECT id FROM waiting',
  };
}

/** Due pending jobs that no cap applies to ($1: the node's tasks, $2: those with a task cap). */
const UNCAPPED_DUE = (s: string, now: string) =>
  `status = 'pending' AND run_at <= ${now} AND task = ANY($1::text[]) AND max_instances IS NULL
   AND NOT (task = ANY($2::text[]))`;

/** What a claim sets, so the claiming node knows it without reading it back. */
type ClaimedKnown = 'status' | 'acquired_by' | 'acquired_until' | 'started_at';
const CLAIMED_COLUMNS = `j.id, j.task, j.args, j.schedule_id, j.fire_time, j.run_at, j.start_deadline, j.attempt, j.max_attempts,
  j.failed_runs, j.abandon_retries, j.max_instances, j.cancel_requested, j.created_at`;

/**
 * The name of the advisory lock that serialises decisions on one cap (`key`: `task:<name>` or
 * `schedule:<id>`). It names the schema: task names and schedule ids repeat across applications,
 * and a lock of another schema's cluster would hold this one's claims back for nothing.
 */
export const capLockKey = (schemaName: string, key: string) => `kairos:${schemaName}:${key}`;

/**
 * SQL for a claimed job's abandonment budget: lowered to the claiming node's for its task (see
 * `TaskLimit.abandonRetries`), given as the array `budgets` in the order of the task names `names`.
 */
function loweredBudget(job: string, budgets: string, names: string): string {
  return `LEAST(${job}.abandon_retries, (${budgets}::int[])[array_position(${names}::text[], ${job}.task)])`;
}

export async function acquireCappedJobs(
  client: PgQueryable,
  s: string,
  schemaName: string,
  now: string,
  node: string,
  leaseMs: number,
  limit: number,
  tasks: readonly TaskLimit[],
  startNow = limit,
): Promise<JobRecord[]> {
  if (tasks.length === 0) return [];
  const taskCaps = new Map(
    tasks.filter((task) => task.maxRunningJobs !== null).map((task) => [task.name, task.maxRunningJobs as number]),
  );
  const running = new Map<string, number>();
  const locked = new Set<string>();
  const known = new Set<string>();
  /** Schedules and tasks that reached their cap within this acquire: later rounds leave their jobs out. */
  const saturated = new Set<string>();
  const picked: JobRow[] = [];
  let after: [Date, string] | null = null;
  rounds: for (let round = 0; round < MAX_CANDIDATE_ROUNDS && picked.length < limit; round++) {
    const { rows: candidates } = await client.query<JobRow>(
      `SELECT * FROM ${s}.jobs AS c WHERE status = 'pending' AND run_at <= ${now} AND task = ANY($1::text[])
         AND ($3::timestamptz IS NULL OR (run_at, id COLLATE "C") > ($3, $4 COLLATE "C"))
         AND NOT (('schedule:' || COALESCE(schedule_id, '')) = ANY($5::text[]) OR ('task:' || task) = ANY($5::text[]))
         -- Jobs of a schedule already at max instances wait; they must not crowd out due jobs behind them.
         AND (max_instances IS NULL OR (SELECT count(*) FROM ${s}.jobs AS r
               WHERE r.schedule_id = c.schedule_id AND r.status = 'running') < max_instances)
       ORDER BY run_at, id COLLATE "C" LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [
        tasks.map((task) => task.name),
        limit - picked.length + CANDIDATE_SLACK,
        after?.[0] ?? null,
        after?.[1] ?? null,
        [...saturated],
      ],
    );
    if (candidates.length === 0) break;
    const last = candidates.at(-1) as JobRow;
    after = [last.run_at, last.id];
    const keys = [
      ...new Set([
        ...candidates.filter((job) => taskCaps.has(job.task)).map((job) => `task:${job.task}`),
        ...candidates
          .filter((job) => job.schedule_id !== null && job.max_instances !== null)
          .map((job) => `schedule:${job.schedule_id}`),
      ]),
    ].filter((key) => !known.has(key));
    if (keys.length > 0) {
      for (const key of keys) known.add(key);
      const { rows: locks } = await client.query<{ key: string; locked: boolean }>(
        `SELECT key, pg_try_advisory_xact_lock(hashtext($2 || key)) AS locked FROM unnest($1::text[]) AS key`,
        [keys, capLockKey(schemaName, '')],
      );
      for (const row of locks) if (row.locked) locked.add(row.key);
      // Counted in a statement of its own: its snapshot is taken after the locks are held, so it
      // sees every acquire committed by the node that held a lock before us.
      const { rows: counts } = await client.query<{ key: string; running: number }>(
        `SELECT 'task:' || task AS key, count(*)::int AS running FROM ${s}.jobs
           WHERE status = 'running' AND ('task:' || task) = ANY($1::text[]) GROUP BY task
         UNION ALL
         SELECT 'schedule:' || schedule_id, count(*)::int FROM ${s}.jobs
           WHERE status = 'running' AND ('schedule:' || schedule_id) = ANY($1::text[]) GROUP BY schedule_id`,
        [keys],
      );
      for (const row of counts) running.set(row.key, row.running);
    }
    for (const job of candidates) {
      if (picked.length >= limit) break;
      // Nothing behind it is claimed to wait (see AcquireJobsOptions.startNow).
      if (picked.length >= startNow && job.abandon_retries === 0) break rounds;
      const taskKey = `task:${job.task}`;
      const cap = taskCaps.get(job.task);
      if (cap !== undefined && (!locked.has(taskKey) || (running.get(taskKey) ?? 0) >= cap)) {
        saturated.add(taskKey);
        continue;
      }
      const scheduleKey = job.schedule_id !== null && job.max_instances !== null ? `schedule:${job.schedule_id}` : null;
      if (
        scheduleKey !== null &&
        (!locked.has(scheduleKey) || (running.get(scheduleKey) ?? 0) >= (job.max_instances as number))
      ) {
        saturated.add(scheduleKey);
        continue;
      }
      picked.push(job);
      if (cap !== undefined) running.set(taskKey, (running.get(taskKey) ?? 0) + 1);
      if (scheduleKey !== null) running.set(scheduleKey, (running.get(scheduleKey) ?? 0) + 1);
    }
  }
  if (picked.length === 0) return [];
  const { rows } = await client.query<JobRow>(
    `UPDATE ${s}.jobs j SET status = 'running', acquired_by = $2, acquired_until = ${now} + $3 * interval '1 millisecond',
       started_at = ${now}, abandon_retries = ${loweredBudget('j', '$5', '$4')}
     WHERE id = ANY($1::text[]) RETURNING *`,
    [
      picked.map((job) => job.id),
      node,
      leaseMs,
      tasks.map((task) => task.name),
      tasks.map((task) => task.abandonRetries ?? null),
    ],
  );
  const order = new Map(picked.map((job, index) => [job.id, index]));
  return rows.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0)).map(jobFromRow);
}

export interface PendingRelease {
  node: string;
  jobId: string;
  release: JobRelease;
}

/**
 * Records a batch of finished runs in one statement (hence one transaction): the finished jobs
 * deleted, the retried ones put back, and the executions of those. Only attempts the releasing
 * node still holds are touched and recorded: a run that ended after its lease was taken over was
 * recorded `abandoned` by the takeover, and a second record of it would say the attempt ended
 * twice. Returns the attempts (`attemptKey`) that were held, and those whose execution an
 * earlier try of the same release already recorded (it committed, but its answer never reached the
 * node; a second statement, run only when some run's attempt was not held, looks for those
 * records). By attempt, not job: a batch may hold a late release of a job's attempt 1 and the
 * release of its attempt 2, taken over by the same node.
 *
 * Only running jobs have an `acquired_by`, so the statement does not say `status = 'running'`: it
 * would let the planner scan the partial index of running jobs instead of looking the ids up,
 * and it does when its statistics say few jobs run (right after a bulk load: 150 times slower).
 * The ids also go in as an array of their own (`j.id = ANY($1)`): joined only with the unnest, the
 * delete of a drain's batch hashed a scan of the whole jobs table, a cost that grows with the queue.
 */
export async function releaseJobs(
  client: PgQueryable,
  s: string,
  now: string,
  batch: readonly PendingRelease[],
): Promise<Set<string>> {
  const finished = batch
    .filter((item) => !item.release.requeue)
    .map((item) => ({ id: item.jobId, node: item.node, attempt: releasedAttempt(item.release) }));
  const requeued = batch
    .filter((item) => item.release.requeue)
    .map((item) => ({
      ...requeueRow(item.jobId, item.node, item.release.requeue as JobRequeue),
      held_attempt: releasedAttempt(item.release),
      held_claim: heldClaimText(item.release),
    }));
  const { rows } = await client.query<{ id: string; attempt: number }>(
    `WITH fin AS (
       DELETE FROM ${s}.jobs j USING unnest($1::text[], $2::text[], $3::integer[]) AS r(id, node, attempt)
       WHERE j.id = ANY($1::text[]) AND j.id = r.id AND j.acquired_by = r.node AND j.attempt = r.attempt
       RETURNING j.id, j.attempt),
     req AS (
       UPDATE ${s}.jobs j SET ${requeueSet(now)}
       FROM json_to_recordset($21::json) AS r(${REQUEUE_RECORDSET}, held_attempt integer, held_claim timestamptz)
       WHERE j.id = r.id AND j.acquired_by = r.node AND j.attempt = r.held_attempt
         -- The node knows its claim's start to the millisecond (timestamps are read that way).
         AND (r.held_claim IS NULL OR date_trunc('milliseconds', j.started_at) = r.held_claim)
       RETURNING j.id, r.held_attempt AS attempt),
     held AS (SELECT id, attempt FROM fin UNION ALL SELECT id, attempt FROM req),
     ex AS (
       INSERT INTO ${s}.executions (${EXECUTION_COLUMNS})
       ${executionRows(4, '(r.job_id, r.attempt) IN (SELECT id, attempt FROM held)')}
       ON CONFLICT (id) DO NOTHING)
     SELECT id, attempt FROM held`,
    [
      pgArrayLiteral(finished.map((item) => item.id)),
      pgArrayLiteral(finished.map((item) => item.node)),
      pgArrayLiteral(finished.map((item) => item.attempt)),
      ...executionArrays(batch.flatMap((item) => (item.release.execution === null ? [] : [item.release.execution]))),
      JSON.stringify(requeued),
    ],
  );
  const held = new Set(rows.map((row) => attemptKey(row.id, row.attempt)));
  // Asked only when a run's attempt was not held (rare): was it recorded by an earlier try?
  const unheld = batch.flatMap(({ jobId, release: { execution } }) =>
    execution !== null && !held.has(attemptKey(jobId, execution.attempt)) ? [execution.id] : [],
  );
  if (unheld.length > 0) {
    const { rows: recorded } = await client.query<{ job_id: string; attempt: number }>(
      `SELECT job_id, attempt FROM ${s}.executions WHERE id = ANY($1::text[])`,
      [unheld],
    );
    for (const row of recorded) held.add(attemptKey(row.job_id, row.attempt));
  }
  return held;
}

function heldClaimText(release: JobRelease): string | null {
  const claimedAt = handedBackClaim(release);
  return claimedAt === null ? null : new Date(claimedAt).toISOString();
}

/**
 * A job `j` put back as pending from a `requeueRow` row `r`: its next attempt, and no lease. A
 * cancel asked for meanwhile stays (the node putting it back may not have heard of it), and the job
 * is due at once (`now`, not after a retry's back-off): the next claim ends it `cancelled`, unrun.
 */
export function requeueSet(now: string): string {
  return `status = 'pending', run_at = CASE WHEN j.cancel_requested THEN LEAST(r.run_at, ${now}) ELSE r.run_at END,
  start_deadline = r.start_deadline, attempt = r.attempt, abandon_retries = r.abandon_retries,
  failed_runs = r.failed_runs,
  acquired_by = NULL, acquired_until = NULL, started_at = NULL`;
}
/** The columns of `requeueRow` rows, for `json_to_recordset`. */
export const REQUEUE_RECORDSET = `id text, node text, run_at timestamptz, start_deadline timestamptz, attempt integer,
  abandon_retries integer, failed_runs integer`;

export function requeueRow(id: string, node: string | null, requeue: JobRequeue) {
  return {
    id,
    node,
    run_at: requeue.runAt.toISOString(),
    start_deadline: requeue.startDeadline?.toISOString() ?? null,
    attempt: requeue.attempt,
    abandon_retries: requeue.abandonRetries,
    failed_runs: requeue.failedRuns,
  };
}
