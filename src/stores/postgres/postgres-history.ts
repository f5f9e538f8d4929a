import { DEAD_NODE_FORGOTTEN_AFTER_MS } from '../store-records.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../paging.ts';
import type { ExecutionQuery, JobQuery, Page } from '../queries.ts';
import type { ExecutionRecord, JobRecord, NodeInfo } from '../records.ts';
import { type ExecutionRow, executionFromRow, type JobRow, jobFromRow, nodeFromRow } from './pg-rows.ts';
import type { PgQueryable } from './pg-types.ts';
import { Where } from './pg-where.ts';

export async function queryJobs(client: PgQueryable, s: string, query: JobQuery): Promise<Page<JobRecord>> {
  const limit = pageLimit(query.limit);
  const where = new Where();
  if (query.cursor) {
    const [runAt, id] = decodeCursor(query.cursor, ['number', 'string'] as const);
    where.add('(run_at, id COLLATE "C") > (?, ? COLLATE "C")', new Date(runAt), id);
  }
  if (query.ids !== undefined) where.add('id = ANY(?::text[])', query.ids);
  if (query.task !== undefined) where.add('task = ?', query.task);
  if (query.scheduleId !== undefined) where.add('schedule_id = ?', query.scheduleId);
  if (query.status !== undefined) where.add('status = ?', query.status);
  const { rows } = await client.query<JobRow>(
    `SELECT * FROM ${s}.jobs ${where.sql} ORDER BY run_at, id COLLATE "C" ${where.limit(limit + 1)}`,
    where.values,
  );
  const items = rows.slice(0, limit).map(jobFromRow);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.runAt.getTime(), last.id]) : null };
}

export async function queryExecutions(
  client: PgQueryable,
  s: string,
  query: ExecutionQuery,
): Promise<Page<ExecutionRecord>> {
  const limit = pageLimit(query.limit);
  const where = new Where();
  if (query.cursor) {
    const [finishedAt, id] = decodeCursor(query.cursor, ['number', 'string'] as const);
    where.add('(finished_at, id COLLATE "C") < (?, ? COLLATE "C")', new Date(finishedAt), id);
  }
  if (query.jobId !== undefined) where.add('job_id = ?', query.jobId);
  if (query.scheduleId !== undefined) where.add('schedule_id = ?', query.scheduleId);
  if (query.task !== undefined) where.add('task = ?', query.task);
  if (query.outcome !== undefined)
    where.add('outcome = ANY(?::text[])', Array.isArray(query.outcome) ? query.outcome : [query.outcome]);
  if (query.from !== undefined) where.add('finished_at >= ?', query.from);
  if (query.to !== undefined) where.add('finished_at < ?', query.to);
  const { rows } = await client.query<ExecutionRow>(
    `SELECT * FROM ${s}.executions ${where.sql} ORDER BY finished_at DESC, id COLLATE "C" DESC ${where.limit(limit + 1)}`,
    where.values,
  );
  const items = rows.slice(0, limit).map(executionFromRow);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.finishedAt.getTime(), last.id]) : null };
}

export async function heartbeat(client: PgQueryable, s: string, now: string, node: NodeInfo): Promise<void> {
  await client.query(
    `WITH forgotten AS (DELETE FROM ${s}.nodes WHERE last_seen < ${now} - $6 * interval '1 millisecond')
     INSERT INTO ${s}.nodes (id, host, pid, started_at, last_seen, running_jobs) VALUES ($1, $2, $3, $4, ${now}, $5)
     ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
       last_seen = excluded.last_seen, running_jobs = excluded.running_jobs`,
    [node.id, node.host, node.pid, node.startedAt, node.runningJobs, DEAD_NODE_FORGOTTEN_AFTER_MS],
  );
}

export async function nodes(client: PgQueryable, s: string): Promise<NodeInfo[]> {
  const { rows } = await client.query<Parameters<typeof nodeFromRow>[0]>(`SELECT * FROM ${s}.nodes ORDER BY id`);
  return rows.map(nodeFromRow);
}
