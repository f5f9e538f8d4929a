import { ConflictError, ScheduleNotFoundError } from '../../errors.ts';
import type { AddScheduleResult, ConflictPolicy, NewSchedule, SchedulePatch } from '../data-store.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../paging.ts';
import type { Page, ScheduleQuery } from '../queries.ts';
import type { ScheduleRecord } from '../records.ts';
import type { SqliteConnection, SqlValue } from './sqlite-connection.ts';
import { IN_LIST, list } from './sqlite-lists.ts';
import { ms, type ScheduleRow, scheduleFromRow } from './sqlite-rows.ts';

/** Schedules in SQLite. Every method runs inside the caller's transaction. */
export class SqliteScheduleTable {
  private readonly t: string;

  constructor(prefix: string) {
    this.t = `${prefix}schedules`;
  }

  add(db: SqliteConnection, schedule: NewSchedule, conflict: ConflictPolicy, now: number): AddScheduleResult {
    const existing = this.row(db, schedule.id);
    const trigger = JSON.stringify(schedule.trigger);
    if (existing === undefined) {
      db.run(
        `INSERT INTO ${this.t} (id, task, trigger, args, paused, misfire_grace_time, coalesce, max_instances, max_jitter,
           next_fire_time, revision, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
        schedule.id,
        schedule.task,
        trigger,
        JSON.stringify(schedule.args),
        schedule.paused ? 1 : 0,
        schedule.misfireGraceTime,
        schedule.coalesce,
        schedule.maxInstances,
        schedule.maxJitter,
        ms(schedule.nextFireTime),
        now,
        now,
      );
      return { outcome: 'added', schedule: this.get(db, schedule.id) as ScheduleRecord };
    }
    if (conflict === 'error') throw new ConflictError(schedule.id);
    if (conflict === 'keep') return { outcome: 'kept', schedule: scheduleFromRow(existing) };
    // Replace in place; an unchanged trigger keeps the fire-time state (DESIGN §3).
    const triggerChanged = existing.trigger !== trigger;
    db.run(
      `UPDATE ${this.t} SET task = ?, args = ?, misfire_grace_time = ?, coalesce = ?, max_instances = ?, max_jitter = ?,
         paused = ?, trigger = ?, next_fire_time = ?, broken_reason = ?, revision = revision + ?, updated_at = ?
       WHERE id = ?`,
      schedule.task,
      JSON.stringify(schedule.args),
      schedule.misfireGraceTime,
      schedule.coalesce,
      schedule.maxInstances,
      schedule.maxJitter,
      schedule.paused === undefined ? existing.paused : schedule.paused ? 1 : 0,
      trigger,
      triggerChanged ? ms(schedule.nextFireTime) : existing.next_fire_time,
      null, // no longer broken, changed trigger or not (see the memory store's `add`)
      triggerChanged || existing.broken_reason !== null ? 1 : 0, // see the memory store's `add`
      now,
      schedule.id,
    );
    return { outcome: 'replaced', schedule: this.get(db, schedule.id) as ScheduleRecord };
  }

  update(
    db: SqliteConnection,
    id: string,
    patch: SchedulePatch,
    now: number,
  ): { before: ScheduleRecord; after: ScheduleRecord } {
    const before = this.get(db, id);
    if (before === undefined) throw new ScheduleNotFoundError(id);
    const sets: string[] = [];
    const values: SqlValue[] = [];
    const set = (column: string, value: SqlValue) => {
      sets.push(`${column} = ?`);
      values.push(value);
    };
    if (patch.task !== undefined) set('task', patch.task);
    if (patch.trigger !== undefined) set('trigger', JSON.stringify(patch.trigger));
    if (patch.args !== undefined) set('args', JSON.stringify(patch.args));
    if (patch.paused !== undefined) set('paused', patch.paused ? 1 : 0);
    if (patch.misfireGraceTime !== undefined) set('misfire_grace_time', patch.misfireGraceTime);
    if (patch.coalesce !== undefined) set('coalesce', patch.coalesce);
    if (patch.maxInstances !== undefined) set('max_instances', patch.maxInstances);
    if (patch.maxJitter !== undefined) set('max_jitter', patch.maxJitter);
    if (patch.nextFireTime !== undefined) set('next_fire_time', ms(patch.nextFireTime));
    if (patch.brokenReason !== undefined) set('broken_reason', patch.brokenReason);
    set('updated_at', now);
    // Only a new trigger or next fire time makes a release in flight stale (see ScheduleRecord.revision).
    const bump = patch.trigger !== undefined || patch.nextFireTime !== undefined ? 1 : 0;
    db.run(`UPDATE ${this.t} SET ${sets.join(', ')}, revision = revision + ? WHERE id = ?`, ...values, bump, id);
    return { before, after: this.get(db, id) as ScheduleRecord };
  }

  remove(db: SqliteConnection, ids: readonly string[]): string[] {
    const removed: string[] = [];
    for (const id of new Set(ids)) {
      if (db.run(`DELETE FROM ${this.t} WHERE id = ?`, id) > 0) removed.push(id);
    }
    return removed;
  }

  get(db: SqliteConnection, id: string): ScheduleRecord | undefined {
    const row = this.row(db, id);
    return row === undefined ? undefined : scheduleFromRow(row);
  }

  query(db: SqliteConnection, query: ScheduleQuery): Page<ScheduleRecord> {
    const limit = pageLimit(query.limit);
    const where: string[] = [];
    const values: SqlValue[] = [];
    if (query.cursor) {
      where.push('id > ?');
      values.push(decodeCursor(query.cursor, ['string'] as const)[0]);
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
    if (query.paused !== undefined) {
      where.push('paused = ?');
      values.push(query.paused ? 1 : 0);
    }
    const rows = db.all<ScheduleRow>(
      `SELECT * FROM ${this.t} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`,
      ...values,
      limit + 1,
    );
    const items = rows.slice(0, limit).map(scheduleFromRow);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.id]) : null };
  }

  /** Due schedules, and idle ones due within `aheadMs` (see `DataStore.acquireSchedules`); `jobs` is the jobs table. */
  acquire(
    db: SqliteConnection,
    node: string,
    leaseMs: number,
    limit: number,
    now: number,
    aheadMs: number,
    jobs: string,
  ): ScheduleRecord[] {
    const rows = db.all<ScheduleRow>(
      `UPDATE ${this.t} SET acquired_by = ?, acquired_until = ?
       WHERE id IN (
         SELECT id FROM ${this.t} AS s
         WHERE paused = 0 AND broken_reason IS NULL AND next_fire_time IS NOT NULL AND next_fire_time <= ?
           AND (next_fire_time <= ? OR NOT EXISTS (SELECT 1 FROM ${jobs} AS j WHERE j.schedule_id = s.id))
           AND (acquired_by IS NULL OR acquired_until <= ? OR acquired_by = ?)
         ORDER BY next_fire_time LIMIT ?)
       RETURNING *`,
      node,
      now + leaseMs,
      now + aheadMs,
      now,
      now,
      node,
      limit,
    );
    return rows.map(scheduleFromRow);
  }

  /** The schedule's max instances if `node` still holds it. */
  heldBy(db: SqliteConnection, node: string, id: string): { maxInstances: number } | undefined {
    const row = db.get<{ max_instances: number }>(
      `SELECT max_instances FROM ${this.t} WHERE id = ? AND acquired_by = ?`,
      id,
      node,
    );
    return row === undefined ? undefined : { maxInstances: row.max_instances };
  }

  release(
    db: SqliteConnection,
    node: string,
    id: string,
    release: { revision: number; next: Date | null; last: Date | null; brokenReason?: string | null | undefined },
    now: number,
  ): void {
    // A concurrent edit (a new revision) already set the fire times of its new trigger: keep them,
    // and do not mark it broken for what was wrong with the old one.
    db.run(
      `UPDATE ${this.t} SET
         next_fire_time = CASE WHEN revision = ? THEN ? ELSE next_fire_time END,
         last_fire_time = COALESCE(?, last_fire_time),
         broken_reason = CASE WHEN ? AND revision = ? THEN ? ELSE broken_reason END,
         acquired_by = NULL, acquired_until = NULL, updated_at = ?
       WHERE id = ? AND acquired_by = ?`,
      release.revision,
      ms(release.next),
      ms(release.last),
      release.brokenReason === undefined ? 0 : 1,
      release.revision,
      release.brokenReason ?? null,
      now,
      id,
      node,
    );
  }

  nextFireTime(db: SqliteConnection): number | null {
    const healthy = 'paused = 0 AND broken_reason IS NULL AND next_fire_time IS NOT NULL';
    const free = db.get<{ next: number | null }>(
      `SELECT min(next_fire_time) AS next FROM ${this.t} WHERE ${healthy} AND acquired_by IS NULL`,
    )?.next;
    // A leased schedule is moved on by its holder; if the holder dies, its lease expiry is when it can be taken over.
    const leased = db.get<{ next: number | null }>(
      // INDEXED BY: the planner would otherwise walk every schedule through the due index.
      `SELECT min(max(next_fire_time, acquired_until)) AS next FROM ${this.t} INDEXED BY ${this.t}_leased
       WHERE ${healthy} AND acquired_by IS NOT NULL`,
    )?.next;
    const times = [free, leased].filter((time): time is number => typeof time === 'number');
    return times.length === 0 ? null : Math.min(...times);
  }

  private row(db: SqliteConnection, id: string): ScheduleRow | undefined {
    return db.get<ScheduleRow>(`SELECT * FROM ${this.t} WHERE id = ?`, id);
  }
}
