import { Scheduler, silentLogger } from 'kairos';
import { PostgresStore } from 'kairos/postgres';
import { Logger, makeWorkerUtils, run, type Runner } from 'graphile-worker';
import { PgBoss } from 'pg-boss';
import { BENCH_DATABASE_URL } from './bench-database.ts';

/**
 * Kairos and its peers behind one small interface, each with its best documented settings for
 * throughput and latency: graphile-worker with local-queue batching and batched completions,
 * pg-boss with LISTEN/NOTIFY, batch fetching and burst mode. All run 100 jobs at once.
 */
export interface BenchSystem {
  readonly name: string;
  /** Adds `count` no-op jobs before the workers start (not timed). */
  preload(count: number): Promise<void>;
  /** Starts a worker node; `onJob` is called as each job starts, with the job's payload. */
  startWorker(onJob: (payload: { t?: number }) => void): Promise<void>;
  /** Jobs not yet completed (finished and recorded), read from the system's own tables. */
  remaining(query: (sql: string) => Promise<number>): Promise<number>;
  /** Adds one job from this process (the worker is running). */
  addOne(payload: { t: number }): Promise<void>;
  stop(): Promise<void>;
}

const CONCURRENCY = 100;

/** Kairos's documented setting for many short jobs: claims of up to 1000, 1000 jobs waiting on the node (like graphile-worker's local queue). */
export const KAIROS_PREFETCH = { prefetchJobs: 1000, batchSize: 1000 } as const;

export function kairos(schema: string, tuning: { prefetchJobs?: number; batchSize?: number } = {}): BenchSystem {
  const store = new PostgresStore({ connectionString: BENCH_DATABASE_URL, schema });
  const scheduler = new Scheduler({ store, logger: silentLogger, maxConcurrentJobs: CONCURRENCY, ...tuning });
  let handler: (payload: { t?: number }) => void = () => {};
  scheduler.task('noop', (_ctx, args: { t?: number } | null) => handler(args ?? {}));
  return {
    name: 'kairos',
    async preload(count) {
      await scheduler.ready();
      // Through the public API, in parallel batches: preloading is not what is measured.
      for (let i = 0; i < count; i += 500) {
        await Promise.all(Array.from({ length: Math.min(500, count - i) }, () => scheduler.addJob('noop')));
      }
    },
    async startWorker(onJob) {
      handler = onJob;
      await scheduler.start();
    },
    async addOne(payload) {
      await scheduler.addJob('noop', { args: payload });
    },
    remaining: (query) => query(`SELECT count(*)::int AS n FROM "${schema}".jobs`),
    stop: () => scheduler.stop(),
  };
}

export function graphileWorker(schema: string): BenchSystem {
  let runner: Runner | null = null;
  let utils: Awaited<ReturnType<typeof makeWorkerUtils>> | null = null;
  const getUtils = async () => {
    utils ??= await makeWorkerUtils({ connectionString: BENCH_DATABASE_URL, schema });
    await utils.migrate();
    return utils;
  };
  return {
    name: 'graphile-worker',
    async preload(count) {
      const u = await getUtils();
      for (let i = 0; i < count; i += 1000) {
        await u.addJobs(Array.from({ length: Math.min(1000, count - i) }, () => ({ identifier: 'noop', payload: {} })));
      }
    },
    async startWorker(onJob) {
      runner = await run({
        noHandleSignals: true,
        logger: silentGraphileLogger(),
        taskList: { noop: async (payload) => onJob((payload ?? {}) as { t?: number }) },
        preset: {
          worker: {
            connectionString: BENCH_DATABASE_URL,
            schema,
            concurrentJobs: CONCURRENCY,
            pollInterval: 2000,
            preparedStatements: true,
            // Their documented throughput settings: fetch and lock jobs in batches, batch completions.
            localQueue: { size: 1000 },
            completeJobBatchDelay: 0,
            failJobBatchDelay: 0,
          },
        },
      });
    },
    remaining: (query) => query(`SELECT count(*)::int AS n FROM "${schema}"._private_jobs`),
    async addOne(payload) {
      await (await getUtils()).addJob('noop', payload);
    },
    async stop() {
      await runner?.stop();
      await utils?.release();
    },
  };
}

export function pgBoss(schema: string): BenchSystem {
  const boss = new PgBoss({
    connectionString: BENCH_DATABASE_URL,
    schema,
    useListenNotify: true,
  } as ConstructorParameters<typeof PgBoss>[0]);
  boss.on('error', () => {});
  let started = false;
  const ready = async () => {
    if (started) return;
    started = true;
    await boss.start();
    await boss.createQueue('noop', { notify: true } as Parameters<typeof boss.createQueue>[1]);
  };
  return {
    name: 'pg-boss',
    async preload(count) {
      await ready();
      for (let i = 0; i < count; i += 1000) {
        await boss.insert(
          'noop',
          Array.from({ length: Math.min(1000, count - i) }, () => ({ data: {} })),
        );
      }
    },
    async startWorker(onJob) {
      await ready();
      await boss.work(
        'noop',
        { batchSize: CONCURRENCY, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true } as never,
        (async (jobs: Array<{ data: { t?: number } }>) => {
          for (const job of jobs) onJob(job.data ?? {});
        }) as never,
      );
    },
    async addOne(payload) {
      await boss.send('noop', payload);
    },
    remaining: (query) =>
      query(`SELECT count(*)::int AS n FROM "${schema}".job WHERE name = 'noop' AND state <> 'completed'`),
    stop: () => boss.stop({ graceful: false, close: true } as never),
  };
}

function silentGraphileLogger() {
  // graphile-worker's Logger takes a factory of scoped log functions.
  return new Logger(() => () => {});
}
