import { type HeapItem, IndexedHeap } from '../../common/indexed-heap.ts';
import type { JsonValue } from '../../common/json-value.ts';
import { cloneJson } from '../../common/json-value.ts';
import { ConflictError, ScheduleNotFoundError } from '../../errors.ts';
import type { TriggerJson } from '../../triggers/trigger-json.ts';
import type { AddScheduleResult, ConflictPolicy, NewSchedule, SchedulePatch } from '../data-store.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../paging.ts';
import type { Page, ScheduleQuery } from '../queries.ts';
import type { CoalescePolicy, ScheduleRecord } from '../records.ts';

/**
 * Schedules in memory. Times are kept as epoch numbers (a `Date` costs far more memory than a
 * number, and the benchmark holds a million schedules). Schedules that may fire — unpaused,
 * healthy, unleased, with a next fire time — sit in a heap ordered by next fire time; leased ones
 * are kept aside until released or their lease expires.
 */
interface ScheduleEntry extends HeapItem {
  id: string;
  task: string;
  trigger: TriggerJson;
  args: JsonValue;
  paused: boolean;
  misfireGraceTime: number | null;
  coalesce: CoalescePolicy;
  maxInstances: number;
  maxJitter: number;
  next: number | null;
  last: number | null;
  acquiredBy: string | null;
  acquiredUntil: number;
  brokenReason: string | null;
  revision: number;
  createdAt: number;
  updatedAt: number;
}

export class MemoryScheduleTable {
  private readonly entries = new Map<string, ScheduleEntry>();
  private readonly due = new IndexedHeap<ScheduleEntry>((a, b) => (a.next as number) < (b.next as number));
  private readonly leased = new Set<ScheduleEntry>();
  private sortedIds: string[] | null = null;

  add(schedule: NewSchedule, conflict: ConflictPolicy, now: number): AddScheduleResult {
    const existing = this.entries.get(schedule.id);
    if (existing === undefined) {
      const entry: ScheduleEntry = {
        heapIndex: -1,
        id: schedule.id,
        task: schedule.task,
        trigger: schedule.trigger,
        args: cloneJson(schedule.args),
        paused: schedule.paused ?? false,
        misfireGraceTime: schedule.misfireGraceTime,
        coalesce: schedule.coalesce,
        maxInstances: schedule.maxInstances,
        maxJitter: schedule.maxJitter,
        next: schedule.nextFireTime === null ? null : schedule.nextFireTime.getTime(),
        last: null,
        acquiredBy: null,
        acquiredUntil: 0,
        brokenReason: null,
        revision: 1,
        createdAt: now,
        updatedAt: now,
      };
      this.entries.set(entry.id, entry);
      this.sortedIds = null;
      this.place(entry);
      return { outcome: 'added', schedule: toRecord(entry) };
    }
    if (conflict === 'error') throw new ConflictError(schedule.id);
    if (conflict === 'keep') return { outcome: 'kept', schedule: toRecord(existing) };

    // Replace in place. An unchanged trigger keeps the fire-time state, so an app that re-declares
    // its schedules at every start still catches up on what it missed while down. Either way the
    // schedule is no longer broken: the declaring node could read its trigger, and one marked broken
    // by a node that could not (an older version during a rolling deploy, a time zone its ICU
    // lacks) would otherwise never fire again; a trigger that still fails is marked broken anew.
    // That takes a new revision, so that the release of a node that took the schedule before the
    // replace (an older node of the deploy) does not mark it broken again.
    const triggerChanged = JSON.stringify(existing.trigger) !== JSON.stringify(schedule.trigger);
    existing.task = schedule.task;
    existing.args = cloneJson(schedule.args);
    existing.misfireGraceTime = schedule.misfireGraceTime;
    existing.coalesce = schedule.coalesce;
    existing.maxInstances = schedule.maxInstances;
    existing.maxJitter = schedule.maxJitter;
    if (schedule.paused !== undefined) existing.paused = schedule.paused;
    if (triggerChanged || existing.brokenReason !== null) existing.revision++;
    existing.brokenReason = null;
    if (triggerChanged) {
      existing.trigger = schedule.trigger;
      existing.next = schedule.nextFireTime === null ? null : schedule.nextFireTime.getTime();
    }
    existing.updatedAt = now;
    this.place(existing);
    return { outcome: 'replaced', schedule: toRecord(existing) };
  }

  update(id: string, patch: SchedulePatch, now: number): ScheduleRecord {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new ScheduleNotFoundError(id);
    if (patch.task !== undefined) entry.task = patch.task;
    if (patch.trigger !== undefined) entry.trigger = patch.trigger;
    if (patch.args !== undefined) entry.args = cloneJson(patch.args);
    if (patch.paused !== undefined) entry.paused = patch.paused;
    if (patch.misfireGraceTime !== undefined) entry.misfireGraceTime = patch.misfireGraceTime;
    if (patch.coalesce !== undefined) entry.coalesce = patch.coalesce;
    if (patch.maxInstances !== undefined) entry.maxInstances = patch.maxInstances;
    if (patch.maxJitter !== undefined) entry.maxJitter = patch.maxJitter;
    if (patch.nextFireTime !== undefined) entry.next = patch.nextFireTime?.getTime() ?? null;
    if (patch.brokenReason !== undefined) entry.brokenReason = patch.brokenReason;
    if (patch.trigger !== undefined || patch.nextFireTime !== undefined) entry.revision++;
    entry.updatedAt = now;
    this.place(entry);
    return toRecord(entry);
  }

  remove(ids: readonly string[]): string[] {
    const removed: string[] = [];
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (entry === undefined) continue;
      this.entries.delete(id);
      this.due.remove(entry);
      this.leased.delete(entry);
      removed.push(id);
    }
    if (removed.length > 0) this.sortedIds = null;
    return removed;
  }

  get(id: string): ScheduleRecord | undefined {
    const entry = this.entries.get(id);
    return entry === undefined ? undefined : toRecord(entry);
  }

  maxInstancesOf(id: string): number | undefined {
    return this.entries.get(id)?.maxInstances;
  }

  query(query: ScheduleQuery): Page<ScheduleRecord> {
    const limit = pageLimit(query.limit);
    const after = query.cursor ? decodeCursor(query.cursor, ['string'] as const)[0] : null;
    const ids = query.ids ? [...new Set(query.ids)].sort() : this.idsInOrder();
    const items: ScheduleRecord[] = [];
    let index = after === null ? 0 : upperBound(ids, after);
    for (; index < ids.length && items.length < limit; index++) {
      const entry = this.entries.get(ids[index] as string);
      if (entry === undefined) continue;
      if (query.task !== undefined && entry.task !== query.task) continue;
      if (query.paused !== undefined && entry.paused !== query.paused) continue;
      items.push(toRecord(entry));
    }
    const last = items.at(-1);
    const more = index < ids.length;
    return { items, nextCursor: more && last ? encodeCursor([last.id]) : null };
  }

  /** Due schedules, and those due within `aheadMs` for which `idle(id)` holds (see `DataStore.acquireSchedules`). */
  acquire(
    node: string,
    leaseMs: number,
    limit: number,
    now: number,
    aheadMs: number,
    idle: (id: string) => boolean,
  ): ScheduleRecord[] {
    // Leases that lapsed, and this node's own (see DataStore.acquireSchedules).
    for (const entry of this.leased) {
      if (entry.acquiredUntil <= now || entry.acquiredBy === node) this.dropLease(entry);
    }
    const acquired: ScheduleRecord[] = [];
    const notYet: ScheduleEntry[] = [];
    while (acquired.length < limit) {
      const top = this.due.peek();
      if (top === undefined || (top.next as number) > now + aheadMs) break;
      this.due.pop();
      if ((top.next as number) > now && !idle(top.id)) {
        notYet.push(top);
        continue;
      }
      top.acquiredBy = node;
      top.acquiredUntil = now + leaseMs;
      this.leased.add(top);
      acquired.push(toRecord(top));
    }
    for (const entry of notYet) this.due.push(entry);
    return acquired;
  }

  /** The entry if `node` still holds it. */
  heldBy(node: string, id: string): { maxInstances: number; revision: number } | undefined {
    const entry = this.entries.get(id);
    return entry !== undefined && entry.acquiredBy === node ? entry : undefined;
  }

  release(
    node: string,
    id: string,
    release: {
      revision: number;
      next: Date | null;
      last: Date | null;
      brokenReason?: string | null | undefined;
    },
    now: number,
  ): void {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.acquiredBy !== node) return;
    // A concurrent edit of the schedule already set the fire times of its new revision (and
    // what was wrong with the old trigger is not the new one's).
    if (entry.revision === release.revision) entry.next = release.next?.getTime() ?? null;
    if (release.last !== null) entry.last = release.last.getTime();
    if (release.brokenReason !== undefined && entry.revision === release.revision)
      entry.brokenReason = release.brokenReason;
    entry.updatedAt = now;
    this.dropLease(entry);
  }

  nextFireTime(): number | null {
    let earliest = this.due.peek()?.next ?? null;
    for (const entry of this.leased) {
      if (entry.next === null || entry.paused || entry.brokenReason !== null) continue;
      // Its holder moves it on; if the holder dies, the lease expiry is when it can be taken over.
      const at = Math.max(entry.next, entry.acquiredUntil);
      if (earliest === null || at < earliest) earliest = at;
    }
    return earliest;
  }

  get size(): number {
    return this.entries.size;
  }

  private dropLease(entry: ScheduleEntry): void {
    entry.acquiredBy = null;
    entry.acquiredUntil = 0;
    this.leased.delete(entry);
    this.place(entry);
  }

  /** Puts the entry in the due heap exactly when it may fire. */
  private place(entry: ScheduleEntry): void {
    const eligible = !entry.paused && entry.brokenReason === null && entry.next !== null && entry.acquiredBy === null;
    if (eligible) this.due.update(entry);
    else this.due.remove(entry);
  }

  private idsInOrder(): string[] {
    if (this.sortedIds === null) this.sortedIds = [...this.entries.keys()].sort();
    return this.sortedIds;
  }
}

function toRecord(entry: ScheduleEntry): ScheduleRecord {
  return {
    id: entry.id,
    task: entry.task,
    trigger: deepFreeze(entry.trigger),
    args: cloneJson(entry.args),
    paused: entry.paused,
    misfireGraceTime: entry.misfireGraceTime,
    coalesce: entry.coalesce,
    maxInstances: entry.maxInstances,
    maxJitter: entry.maxJitter,
    nextFireTime: entry.next === null ? null : new Date(entry.next),
    lastFireTime: entry.last === null ? null : new Date(entry.last),
    acquiredBy: entry.acquiredBy,
    acquiredUntil: entry.acquiredBy === null ? null : new Date(entry.acquiredUntil),
    brokenReason: entry.brokenReason,
    revision: entry.revision,
    createdAt: new Date(entry.createdAt),
    updatedAt: new Date(entry.updatedAt),
  };
}

/** Index of the first id greater than `key` in sorted `ids`. */
function upperBound(ids: readonly string[], key: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((ids[middle] as string) <= key) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Stored trigger JSON is handed to readers as is (the scheduler caches compiled triggers by its
 * identity), so it is frozen — on first read, which keeps adding a million schedules cheap.
 */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key in value) deepFreeze(value[key]);
    Object.freeze(value);
  }
  return value;
}
