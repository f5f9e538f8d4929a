import type { CancelResult, JobWakeTimes, LeaseRef, LeaseStatus, TaskLimit } from '../data-store.ts';
import type { ExecutionRecord, JobRecord } from '../records.ts';
import { abandonedExecution, abandonedRequeue, cancelledBeforeStartExecution } from '../store-records.ts';
import { type JobRow, jobFromRow } from './pg-rows.ts';
import type { PgQueryable } from './pg-types.ts';
import { LEASE_EXPIRY, NEXT_RUN_AT, REQUEUE_RECORDSET, requeueRow, requeueSet } from './postgres-jobs.ts';
import { insertExecutions } from './postgres-schedules.ts';

/** Lease keeping on PostgreSQL: wake times, renewals, take-over of dead nodes' jobs, cancellation. */
export async function nextJobTimes(
  client: PgQueryable,
  s: string,
  tasks: readonly TaskLimit[],
  after: Date,
): Promise<JobWakeTimes> {
  const capped = tasks.filter((task) => task.maxRunningJobs !== null);
  const { rows } = await client.query<{ run_at: Date | null; lease_expiry: Date | null }>(
    `SELECT ${NEXT_RUN_AT(s, '$1::timestamptz', '$2', { names: '$3', max: '$4' })} AS run_at, ${LEASE_EXPIRY(s)} AS lease_expiry`,
    [after, tasks.map((task) => task.name), capped.map((task) => task.name), capped.map((task) => task.maxRunningJobs)],
  );
  return { runAt: rows[0]?.run_at ?? null, leaseExpiry: rows[0]?.lease_expiry ?? null };
}

export async function extendLeases(
  client: PgQueryable,
  s: string,
  now: string,
  node: string,
  leaseMs: number,
  jobs: readonly LeaseRef[],
): Promise<LeaseStatus> {
  if (jobs.length === 0) return { lost: [], cancelRequested: [] };
  const { rows } = await client.query<{ id: string; cancel_requested: boolean }>(
    `UPDATE ${s}.jobs j SET acquired_until = ${now} + $4 * interval '1 millisecond'
     FROM unnest($1::text[], $2::int[]) AS l(id, attempt)
     WHERE j.id = l.id AND j.attempt = l.attempt AND j.status = 'running' AND j.acquired_by = $3
     RETURNING j.id, j.cancel_requested`,
    [jobs.map((job) => job.id), jobs.map((job) => job.attempt), node, leaseMs],
  );
  const held = new Set(rows.map((row) => row.id));
  return {
    lost: jobs.filter((job) => !held.has(job.id)).map((job) => job.id),
    cancelRequested: rows.filter((row) => row.cancel_requested).map((row) => row.id),
  };
}

/** See `DataStore.handBackStrayJobs`: through the partial index of running jobs, which are few. */
export async function handBackStrayJobs(
  client: PgQueryable,
  s: string,
  now: string,
  node: string,
  held: readonly LeaseRef[],
  minLeaseLeftMs: number,
  claimedSince: Date,
): Promise<JobRecord[]> {
  const { rows } = await client.query<JobRow>(
    `UPDATE ${s}.jobs j SET status = 'pending', acquired_by = NULL, acquired_until = NULL, started_at = NULL
     WHERE j.status = 'running' AND j.acquired_by = $1 AND j.acquired_until > ${now} + $4 * interval '1 millisecond'
       AND j.started_at >= $5
       AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::int[]) AS h(id, attempt) WHERE h.id = j.id AND h.attempt = j.attempt)
     RETURNING j.*`,
    [node, held.map((job) => job.id), held.map((job) => job.attempt), minLeaseLeftMs, claimedSince],
  );
  return rows.map(jobFromRow);
}

/** Jobs whose lease expired: their attempt recorded `abandoned`, then re-queued or finished. Inside the caller's transaction. */
export async function reapAbandoned(
  client: PgQueryable,
  s: string,
  now: string,
): Promise<Array<{ execution: ExecutionRecord; retryAt: Date | null }>> {
  const { rows } = await client.query<JobRow & { store_now: Date }>(
    `SELECT *, ${now} AS store_now FROM ${s}.jobs WHERE status = 'running' AND acquired_until <= ${now}
     ORDER BY acquired_until LIMIT 1000 FOR UPDATE SKIP LOCKED`,
  );
  if (rows.length === 0) return [];
  const storeNow = rows[0]?.store_now as Date;
  const done = rows.map((row) => {
    const job = jobFromRow(row);
    return { job, execution: abandonedExecution(job, storeNow), requeue: abandonedRequeue(job, storeNow.getTime()) };
  });
  await insertExecutions(
    client,
    s,
    done.map((entry) => entry.execution),
  );
  const requeued = done.flatMap((entry) =>
    entry.requeue === null ? [] : [requeueRow(entry.job.id, null, entry.requeue)],
  );
  if (requeued.length > 0) {
    await client.query(
      `UPDATE ${s}.jobs j SET ${requeueSet(now)} FROM json_to_recordset($1::json) AS r(${REQUEUE_RECORDSET}) WHERE j.id = r.id`,
      [JSON.stringify(requeued)],
    );
  }
  const finished = done.filter((entry) => entry.requeue === null).map((entry) => entry.job.id);
  if (finished.length > 0) await client.query(`DELETE FROM ${s}.jobs WHERE id = ANY($1::text[])`, [finished]);
  return done.map((entry) => ({ execution: entry.execution, retryAt: entry.requeue?.runAt ?? null }));
}

/** A pending job is removed and recorded `cancelled`; a running one is flagged. Inside the caller's transaction. */
export async function requestCancel(
  client: PgQueryable,
  s: string,
  now: string,
  jobId: string,
  node: string,
): Promise<CancelResult> {
  const { rows } = await client.query<JobRow & { store_now: Date }>(
    `SELECT *, ${now} AS store_now FROM ${s}.jobs WHERE id = $1 FOR UPDATE`,
    [jobId],
  );
  const row = rows[0];
  if (row === undefined) return { status: 'not_found' };
  if (row.status === 'pending') {
    const execution = cancelledBeforeStartExecution(jobFromRow(row), node, row.store_now);
    await client.query(`DELETE FROM ${s}.jobs WHERE id = $1`, [jobId]);
    await insertExecutions(client, s, [execution]);
    return { status: 'cancelled', execution };
  }
  await client.query(`UPDATE ${s}.jobs SET cancel_requested = true WHERE id = $1`, [jobId]);
  return { status: 'requested', node: row.acquired_by };
}
