import { DEAD_NODE_FORGOTTEN_AFTER_MS } from '../store-records.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../paging.ts';
import type { ExecutionQuery, Page } from '../queries.ts';
import type { ExecutionRecord, NodeInfo } from '../records.ts';
import type { SqliteConnection, SqlValue } from './sqlite-connection.ts';
import {
  EXECUTION_COLUMNS,
  type ExecutionRow,
  executionFromRow,
  executionValues,
  type NodeRow,
  nodeFromRow,
} from './sqlite-rows.ts';

/** Rows deleted per statement when pruning, so a big prune never holds the write lock for long. */
export const PRUNE_CHUNK = 5_000;

/** Executions and nodes in SQLite. Every method runs inside the caller's transaction. */
export class SqliteHistoryTable {
  private readonly executionsTable: string;
  private readonly nodesTable: string;

  constructor(prefix: string) {
    this.executionsTable = `${prefix}executions`;
    this.nodesTable = `${prefix}nodes`;
  }

  /** Idempotent: a release retried after a failure that did commit must not fail on its own record. */
  append(db: SqliteConnection, execution: ExecutionRecord): void {
    db.run(
      `INSERT INTO ${this.executionsTable} (${EXECUTION_COLUMNS}) VALUES (${EXECUTION_COLUMNS.split(',')
        .map(() => '?')
        .join(', ')}) ON CONFLICT (id) DO NOTHING`,
      ...executionValues(execution),
    );
  }

  /** Whether the execution `id` is recorded. */
  has(db: SqliteConnection, id: string): boolean {
    return db.get(`SELECT 1 AS found FROM ${this.executionsTable} WHERE id = ?`, id) !== undefined;
  }

  query(db: SqliteConnection, query: ExecutionQuery): Page<ExecutionRecord> {
    const limit = pageLimit(query.limit);
    const where: string[] = [];
    const values: SqlValue[] = [];
    if (query.cursor) {
      const [finishedAt, id] = decodeCursor(query.cursor, ['number', 'string'] as const);
      where.push('(finished_at < ? OR (finished_at = ? AND id < ?))');
      values.push(finishedAt, finishedAt, id);
    }
    const equal = (column: string, value: string | undefined) => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      values.push(value);
    };
    equal('job_id', query.jobId);
    equal('schedule_id', query.scheduleId);
    equal('task', query.task);
    if (query.outcome !== undefined) {
      const outcomes = Array.isArray(query.outcome) ? query.outcome : [query.outcome];
      if (outcomes.length === 0) return { items: [], nextCursor: null };
      where.push(`outcome IN (${outcomes.map(() => '?').join(', ')})`);
      values.push(...outcomes);
    }
    if (query.from !== undefined) {
      where.push('finished_at >= ?');
      values.push(query.from.getTime());
    }
    if (query.to !== undefined) {
      where.push('finished_at < ?');
      values.push(query.to.getTime());
    }
    const rows = db.all<ExecutionRow>(
      `SELECT * FROM ${this.executionsTable} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY finished_at DESC, id DESC LIMIT ?`,
      ...values,
      limit + 1,
    );
    const items = rows.slice(0, limit).map(executionFromRow);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > limit && last ? encodeCursor([last.finishedAt.getTime(), last.id]) : null,
    };
  }

  /** Deletes one chunk of executions finished before `olderThan`; returns how many. */
  pruneChunk(db: SqliteConnection, olderThan: number, chunk: number): number {
    return db.run(
      `DELETE FROM ${this.executionsTable} WHERE rowid IN (SELECT rowid FROM ${this.executionsTable} WHERE finished_at < ? ORDER BY finished_at LIMIT ?)`,
      olderThan,
      chunk,
    );
  }

  heartbeat(db: SqliteConnection, node: NodeInfo, now: number): void {
    db.run(`DELETE FROM ${this.nodesTable} WHERE last_seen < ?`, now - DEAD_NODE_FORGOTTEN_AFTER_MS);
    db.run(
      `INSERT INTO ${this.nodesTable} (id, host, pid, started_at, last_seen, running_jobs) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
         last_seen = excluded.last_seen, running_jobs = excluded.running_jobs`,
      node.id,
      node.host,
      node.pid,
      node.startedAt.getTime(),
      now,
      node.runningJobs,
    );
  }

  removeNode(db: SqliteConnection, id: string): void {
    db.run(`DELETE FROM ${this.nodesTable} WHERE id = ?`, id);
  }

  nodes(db: SqliteConnection): NodeInfo[] {
    return db.all<NodeRow>(`SELECT * FROM ${this.nodesTable} ORDER BY id`).map(nodeFromRow);
  }
}
