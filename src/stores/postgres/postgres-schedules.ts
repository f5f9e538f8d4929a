import { ConflictError, ScheduleNotFoundError } from '../../errors.ts';
import type {
  AddScheduleResult,
  ConflictPolicy,
  NewSchedule,
  ReleasedSchedules,
  SchedulePatch,
  ScheduleRelease,
  StartFiredJobs,
} from '../data-store.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../paging.ts';
import type { Page, ScheduleQuery } from '../queries.ts';
import type { ExecutionRecord, JobRecord, ScheduleRecord } from '../records.ts';
import { admitFiredJobs, firedJobToStart } from '../store-records.ts';
import {
  EXECUTION_COLUMNS,
  executionArrays,
  executionRows,
  JOB_COLUMNS,
  JOB_RECORDSET,
  jobsJson,
  type ScheduleRow,
  scheduleFromRow,
} from './pg-rows.ts';
import type { PgQueryable } from './pg-types.ts';
import { Where } from './pg-where.ts';
import { isLockTimeout } from './pg-errors.ts';

/** Schedule statements; each function runs on the caller's client, inside its transaction where it needs one. */
export async function addSchedule(
  client: PgQueryable,
  s: string,
  now: string,
  schedule: NewSchedule,
  conflict: ConflictPolicy,
): Promise<AddScheduleResult> {
  const trigger = JSON.stringify(schedule.trigger);
  const values = [
    schedule.id,
    schedule.task,
    trigger,
    JSON.stringify(schedule.args),
    schedule.paused ?? null,
    schedule.misfireGraceTime,
    schedule.coalesce,
    schedule.maxInstances,
    schedule.maxJitter,
    schedule.nextFireTime,
  ];
  const inserted = await client.query<ScheduleRow>(
    `INSERT INTO ${s}.schedules (id, task, trigger, args, paused, misfire_grace_time, coalesce_policy, max_instances, max_jitter,
       next_fire_time, created_at, updated_at)
     VALUES ($1, $2, $3, $4, COALESCE($5, false), $6, $7, $8, $9, $10, ${now}, ${now})
     ON CONFLICT (id) DO NOTHING RETURNING *`,
    values,
  );
  if (inserted.rows[0] !== undefined) return { outcome: 'added', schedule: scheduleFromRow(inserted.rows[0]) };
  if (conflict === 'error') throw new ConflictError(schedule.id);
  if (conflict === 'keep') {
    const existing = await getSchedule(client, s, schedule.id);
    if (existing === undefined) return addSchedule(client, s, now, schedule, conflict); // removed meanwhile
    return { outcome: 'kept', schedule: existing };
  }
  // Replace in place. The trigger is compared as stored text (json keeps it as written): an
  // unchanged trigger keeps the fire-time state, a changed one takes the new next fire time. Either
  // way the schedule is no longer broken, as a new revision: the declaring node could read its
  // trigger (see `MemoryScheduleTable.add`).
  const replaced = await client.query<ScheduleRow>(
    `UPDATE ${s}.schedules SET task = $2, args = $4::json, paused = COALESCE($5, paused), misfire_grace_time = $6,
       coalesce_policy = $7, max_instances = $8, max_jitter = $9,
       next_fire_time = CASE WHEN trigger::text = $3::text THEN next_fire_time ELSE $10 END,
       broken_reason = NULL,
       revision = revision + CASE WHEN trigger::text = $3::text AND broken_reason IS NULL THEN 0 ELSE 1 END,
       trigger = $3::json, updated_at = ${now}
     WHERE id = $1 RETURNING *`,
    values,
  );
  if (replaced.rows[0] === undefined) return addSchedule(client, s, now, schedule, conflict);
  return { outcome: 'replaced', schedule: scheduleFromRow(replaced.rows[0]) };
}

const PATCH_COLUMNS: ReadonlyArray<[keyof SchedulePatch, string, (value: never) => unknown]> = [
  ['task', 'task', (v) => v],
  ['trigger', 'trigger', (v) => JSON.stringify(v)],
  ['args', 'args', (v) => JSON.stringify(v)],
  ['paused', 'paused', (v) => v],
  ['misfireGraceTime', 'misfire_grace_time', (v) => v],
  ['coalesce', 'coalesce_policy', (v) => v],
  ['maxInstances', 'max_instances', (v) => v],
  ['maxJitter', 'max_jitter', (v) => v],
  ['nextFireTime', 'next_fire_time', (v) => v],
  ['brokenReason', 'broken_reason', (v) => v],
];

export async function updateSchedule(
  client: PgQueryable,
  s: string,
  now: string,
  id: string,
  patch: SchedulePatch,
): Promise<{ before: ScheduleRecord; after: ScheduleRecord }> {
  const sets: string[] = [];
  const values: unknown[] = [id];
  for (const [key, column, convert] of PATCH_COLUMNS) {
    if (patch[key] === undefined) continue;
    values.push(convert(patch[key] as never));
    sets.push(`${column} = $${values.length}`);
  }
  const bump = patch.trigger !== undefined || patch.nextFireTime !== undefined ? 1 : 0;
  const { rows } = await client.query<ScheduleRow & { was_paused: boolean }>(
    `UPDATE ${s}.schedules n SET ${[...sets, `updated_at = ${now}`, `revision = n.revision + ${bump}`].join(', ')}
     FROM (SELECT id, paused AS was_paused FROM ${s}.schedules WHERE id = $1 FOR UPDATE) o
     WHERE n.id = o.id RETURNING n.*, o.was_paused`,
    values,
  );
  const row = rows[0];
  if (row === undefined) throw new ScheduleNotFoundError(id);
  const after = scheduleFromRow(row);
  return { before: { ...after, paused: row.was_paused }, after };
}

export async function getSchedule(client: PgQueryable, s: string, id: string): Promise<ScheduleRecord | undefined> {
  const { rows } = await client.query<ScheduleRow>(`SELECT * FROM ${s}.schedules WHERE id = $1`, [id]);
  return rows[0] === undefined ? undefined : scheduleFromRow(rows[0]);
}

export async function querySchedules(
  client: PgQueryable,
  s: string,
  query: ScheduleQuery,
): Promise<Page<ScheduleRecord>> {
  const limit = pageLimit(query.limit);
  const where = new Where();
  if (query.cursor) where.add('id COLLATE "C" > ?', decodeCursor(query.cursor, ['string'] as const)[0]);
  if (query.ids !== undefined) where.add('id = ANY(?::text[])', query.ids);
  if (query.task !== undefined) where.add('task = ?', query.task);
  if (query.paused !== undefined) where.add('paused = ?', query.paused);
  const { rows } = await client.query<ScheduleRow>(
    `SELECT * FROM ${s}.schedules ${where.sql} ORDER BY id COLLATE "C" ${where.limit(limit + 1)}`,
    where.values,
  );
  const items = rows.slice(0, limit).map(scheduleFromRow);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.id]) : null };
}

export async function acquireSchedules(
  client: PgQueryable,
  s: string,
  now: string,
  node: string,
  leaseMs: number,
  limit: number,
  aheadMs: number,
): Promise<{ now: Date; schedules: ScheduleRecord[] }> {
  const { rows } = await client.query<ScheduleRow & { store_now: Date }>(
    // The due ids go in as an array, so the update finds its rows through the primary key.
    `WITH taken AS (
       UPDATE ${s}.schedules t SET acquired_by = $1, acquired_until = ${now} + $2 * interval '1 millisecond'
       WHERE t.id = ANY(ARRAY(
         SELECT id FROM ${s}.schedules AS c
         WHERE NOT paused AND broken_reason IS NULL AND next_fire_time <= ${now} + $4 * interval '1 millisecond'
           AND (next_fire_time <= ${now} OR NOT EXISTS (SELECT 1 FROM ${s}.jobs AS j WHERE j.schedule_id = c.id))
           AND (acquired_by IS NULL OR acquired_until <= ${now} OR acquired_by = $1)
         ORDER BY next_fire_time LIMIT $3 FOR UPDATE SKIP LOCKED))
       RETURNING t.*)
     SELECT ${now} AS store_now, taken.* FROM (SELECT 1) AS one LEFT JOIN taken ON true`,
    [node, leaseMs, limit, aheadMs],
  );
  const storeNow = rows[0]?.store_now ?? new Date();
  return { now: storeNow, schedules: rows.filter((row) => row.id !== null).map(scheduleFromRow) };
}

type HeldSchedule = { id: string; max_instances: number; active: number; store_now: Date };

/** How long a release waits for a held schedule's row that another transaction has locked. */
const HELD_ROW_WAIT_MS = 1000;

/**
 * Locks the rows of the released schedules that `node` still holds. A row locked by another
 * transaction is waited for, but only briefly: an application transaction that replaced the
 * schedule inside `{ tx }` may stay open for minutes, and waiting for it would stall every fire of
 * this batch, and the node's schedule loop with them. Such a schedule is left out of this release;
 * its lease lapses and it fires then, under its misfire and coalesce rules.
 */
async function lockHeldSchedules(
  client: PgQueryable,
  s: string,
  now: string,
  node: string,
  releases: readonly ScheduleRelease[],
): Promise<HeldSchedule[]> {
  const select = (ids: readonly string[], wait: string) =>
    client.query<HeldSchedule>(
      `SELECT sc.id, sc.max_instances, ${now} AS store_now,
         (SELECT count(*)::int FROM ${s}.jobs j WHERE j.schedule_id = sc.id) AS active
       FROM ${s}.schedules sc WHERE sc.id = ANY($1::text[]) AND sc.acquired_by = $2 FOR UPDATE OF sc ${wait}`,
      [ids, node],
    );
  const { rows: held } = await select(
    releases.map((release) => release.scheduleId),
    'SKIP LOCKED',
  );
  const locked = new Set(held.map((row) => row.id));
  const rest = releases.map((release) => release.scheduleId).filter((id) => !locked.has(id));
  if (rest.length === 0) return held;
  // The rest were taken over, removed, or are locked right now: wait a little for the last.
  await client.query('SAVEPOINT kairos_held_rows');
  try {
    await client.query(`SET LOCAL lock_timeout = ${HELD_ROW_WAIT_MS}`);
    const { rows: waited } = await select(rest, '');
    await client.query('RELEASE SAVEPOINT kairos_held_rows');
    held.push(...waited);
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT kairos_held_rows');
  }
  // The wait applied to that statement only; the rest of the release waits as before.
  await client.query('SET LOCAL lock_timeout TO DEFAULT');
  return held;
}

/** Set-based: every held schedule's jobs, skipped and missed records and next fire time, in a few statements. */
export async function releaseSchedules(
  client: PgQueryable,
  s: string,
  now: string,
  node: string,
  releases: readonly ScheduleRelease[],
  start?: StartFiredJobs,
): Promise<ReleasedSchedules> {
  const held = await lockHeldSchedules(client, s, now, node, releases);
  const heldById = new Map(held.map((row) => [row.id, row]));
  const storeNow = held[0]?.store_now ?? new Date();
  const jobs: JobRecord[] = [];
  /** The first admitted job of each schedule, when its node starts it itself. */
  const startIds: string[] = [];
  const executions: ExecutionRecord[] = [];
  for (const release of releases) {
    const row = heldById.get(release.scheduleId);
    if (row === undefined) continue; // removed meanwhile, or its lease was taken over
    if (release.jobs.length > 0) {
      const { admitted, skipped } = admitFiredJobs(release.jobs, row.active, row.max_instances, node, storeNow);
      executions.push(...skipped);
      jobs.push(...admitted);
      const first = firedJobToStart(admitted, start);
      if (first !== undefined) startIds.push(first.id);
    }
    executions.push(...release.missed);
  }
  let insertedJobs: JobRecord[] = [];
  const started: JobRecord[] = [];
  if (jobs.length > 0) {
    // Jobs the node starts itself are inserted already leased to it (see `StartFiredJobs`).
    const { rows } = await client.query<{ id: string; acquired_until: Date | null; started_at: Date | null }>(
      `INSERT INTO ${s}.jobs (${JOB_COLUMNS}, status, acquired_by, acquired_until, started_at)
       SELECT id, task, COALESCE(args, 'null'::json), schedule_id, fire_time, run_at, start_deadline, attempt, max_attempts,
         abandon_retries, max_instances, created_at, CASE WHEN s.start THEN 'running' ELSE 'pending' END,
         CASE WHEN s.start THEN $3 END, CASE WHEN s.start THEN ${now} + $4 * interval '1 millisecond' END,
         CASE WHEN s.start THEN GREATEST(${now}, r.run_at) END
       FROM json_to_recordset($1::json) AS r(${JOB_RECORDSET}),
         LATERAL (SELECT r.id = ANY($2::text[]) AS start) AS s
       ON CONFLICT (schedule_id, fire_time) WHERE schedule_id IS NOT NULL AND fire_time IS NOT NULL DO NOTHING
       RETURNING id, acquired_until, started_at`,
      [jobsJson(jobs), startIds, node, start?.leaseMs ?? 0],
    );
    const inserted = new Map(rows.map((row) => [row.id, row]));
    insertedJobs = jobs
      .filter((job) => inserted.has(job.id))
      .map((job) => {
        const row = inserted.get(job.id);
        if (row?.started_at == null) return job;
        const leased: JobRecord = {
          ...job,
          status: 'running',
          acquiredBy: node,
          acquiredUntil: row.acquired_until,
          startedAt: row.started_at,
        };
        started.push(leased);
        return leased;
      });
  }
  if (executions.length > 0) await insertExecutions(client, s, executions);
  const updates = releases
    .filter((release) => heldById.has(release.scheduleId))
    .map((release) => ({
      id: release.scheduleId,
      revision: release.revision,
      next: release.nextFireTime?.toISOString() ?? null,
      last: release.lastFireTime?.toISOString() ?? null,
      set_broken: release.brokenReason !== undefined,
      broken: release.brokenReason ?? null,
    }));
  if (updates.length > 0) {
    // A concurrent edit (a new revision) already set the fire times of its new trigger: keep them,
    // and do not mark it broken for what was wrong with the old one.
    await client.query(
      `UPDATE ${s}.schedules sc SET
         next_fire_time = CASE WHEN sc.revision = r.revision THEN r.next ELSE sc.next_fire_time END,
         last_fire_time = COALESCE(r.last, sc.last_fire_time),
         broken_reason = CASE WHEN r.set_broken AND sc.revision = r.revision THEN r.broken ELSE sc.broken_reason END,
         acquired_by = NULL, acquired_until = NULL, updated_at = ${now}
       FROM json_to_recordset($1::json) AS r(id text, revision integer, next timestamptz, last timestamptz, set_broken boolean, broken text)
       WHERE sc.id = r.id AND sc.acquired_by = $2`,
      [JSON.stringify(updates), node],
    );
  }
  return { jobs: insertedJobs, executions, started };
}

export async function insertExecutions(
  client: PgQueryable,
  s: string,
  executions: readonly ExecutionRecord[],
): Promise<void> {
  await client.query(
    `INSERT INTO ${s}.executions (${EXECUTION_COLUMNS}) ${executionRows(1)} ON CONFLICT (id) DO NOTHING`,
    executionArrays(executions),
  );
}

export async function nextScheduleFireTime(client: PgQueryable, s: string): Promise<Date | null> {
  const { rows } = await client.query<{ next: Date | null }>(
    `SELECT LEAST(
       (SELECT min(next_fire_time) FROM ${s}.schedules
          WHERE NOT paused AND broken_reason IS NULL AND next_fire_time IS NOT NULL AND acquired_by IS NULL),
       (SELECT min(GREATEST(next_fire_time, acquired_until)) FROM ${s}.schedules
          WHERE NOT paused AND broken_reason IS NULL AND next_fire_time IS NOT NULL AND acquired_by IS NOT NULL)) AS next`,
  );
  return rows[0]?.next ?? null;
}
