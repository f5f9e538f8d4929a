import { cloneJson } from '../../common/json-value.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../paging.ts';
import type { ExecutionQuery, Page } from '../queries.ts';
import type { ExecutionRecord } from '../records.ts';

/**
 * Execution history in memory, kept sorted by (finishedAt, id) so that newest-first paging and
 * pruning by age are binary searches. Capped at `maxRecords` so a long-running process keeps flat
 * memory: past the cap the oldest records are dropped (in chunks, to keep appends cheap).
 */
export class MemoryExecutionLog {
  private records: ExecutionRecord[] = [];
  private readonly maxRecords: number;

  constructor(maxRecords: number) {
    this.maxRecords = maxRecords;
  }

  /** Whether the execution `id` is recorded (a scan: asked only of releases that found their job gone). */
  has(id: string): boolean {
    return this.records.some((record) => record.id === id);
  }

  append(given: ExecutionRecord): void {
    // A copy of what can be shared: the caller may still hold the task's result or the job's
    // arguments (`runJob` returns that result) and change them later; the history must not change.
    const record = { ...given, args: cloneJson(given.args), result: cloneJson(given.result) };
    const records = this.records;
    let index = records.length;
    // Nearly always appended at the end; walk back only when clocks or ids arrive out of order.
    while (index > 0 && compare(records[index - 1] as ExecutionRecord, record) > 0) index--;
    if (index === records.length) records.push(record);
    else records.splice(index, 0, record);
    if (records.length > this.maxRecords + Math.ceil(this.maxRecords / 10)) {
      this.records = records.slice(records.length - this.maxRecords);
    }
  }

  query(query: ExecutionQuery): Page<ExecutionRecord> {
    const limit = pageLimit(query.limit);
    const outcomes =
      query.outcome === undefined ? null : new Set(Array.isArray(query.outcome) ? query.outcome : [query.outcome]);
    const records = this.records;
    let index = records.length - 1;
    if (query.cursor) {
      const [finishedAt, id] = decodeCursor(query.cursor, ['number', 'string'] as const);
      index = lowerBound(records, finishedAt, id) - 1;
    }
    if (query.to !== undefined) index = Math.min(index, lowerBound(records, query.to.getTime(), '') - 1);
    const from = query.from?.getTime() ?? Number.NEGATIVE_INFINITY;
    const items: ExecutionRecord[] = [];
    let more = false;
    for (; index >= 0; index--) {
      const record = records[index] as ExecutionRecord;
      if (record.finishedAt.getTime() < from) break;
      if (query.jobId !== undefined && record.jobId !== query.jobId) continue;
      if (query.scheduleId !== undefined && record.scheduleId !== query.scheduleId) continue;
      if (query.task !== undefined && record.task !== query.task) continue;
      if (outcomes !== null && !outcomes.has(record.outcome)) continue;
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(structuredClone(record));
    }
    const last = items.at(-1);
    return {
      items,
      nextCursor: more && last ? encodeCursor([last.finishedAt.getTime(), last.id]) : null,
    };
  }

  /** Drops up to `limit` of the oldest records, those finished before `olderThan`. */
  pruneBefore(olderThan: number, limit: number): number {
    const cut = Math.min(limit, lowerBound(this.records, olderThan, ''));
    if (cut > 0) this.records = this.records.slice(cut);
    return cut;
  }

  get size(): number {
    return this.records.length;
  }
}

function compare(a: ExecutionRecord, b: ExecutionRecord): number {
  return a.finishedAt.getTime() - b.finishedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Index of the first record not before (finishedAt, id). */
function lowerBound(records: readonly ExecutionRecord[], finishedAt: number, id: string): number {
  let low = 0;
  let high = records.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    const record = records[middle] as ExecutionRecord;
    const time = record.finishedAt.getTime();
    if (time < finishedAt || (time === finishedAt && record.id < id)) low = middle + 1;
    else high = middle;
  }
  return low;
}
