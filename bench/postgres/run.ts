// `npm run bench:postgres`: Kairos, graphile-worker and pg-boss on the same database in the same
// run, each scenario in its own process, figures printed as JSON and written to bench/results/.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScenario, writeReport } from '../bench-report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const SYSTEMS = ['kairos', 'graphile-worker', 'pg-boss'];
/** The drain also runs Kairos with its setting for many short jobs (`prefetchJobs`, see systems.ts). */
const DRAIN_SYSTEMS = ['kairos', 'kairos-prefetch', 'graphile-worker', 'pg-boss'];
const run = (file: string, ...args: string[]) => {
  console.error(`running ${file} ${args.join(' ')} ...`);
  return runScenario(join(here, file), args) as Record<string, number>;
};
// Three rounds, each running every system in turn, so none always runs on a warmer or colder machine.
const drainRuns: Record<string, Array<Record<string, number>>> = {};
for (let round = 0; round < 3; round++) {
  for (const system of DRAIN_SYSTEMS) (drainRuns[system] ??= []).push(run('scenario.ts', system, 'drain', '20000'));
}
const drain: Record<string, unknown> = {};
for (const system of DRAIN_SYSTEMS) {
  const runs = drainRuns[system] ?? [];
  drain[system] = {
    median: [...runs].sort((a, b) => (a.jobsPerSecond as number) - (b.jobsPerSecond as number))[1],
    runs,
  };
}
const latency: Record<string, unknown> = {};
for (const system of SYSTEMS) latency[system] = run('scenario.ts', system, 'latency', '200');
const fireLateness = run('fire-lateness.ts', '1000', '30');
const fireLatenessAhead = run('fire-lateness.ts', '1000', '30', '300ms', '1000');
// The same burst with every system's own cron feature, at the minute resolution the peers offer.
const cronLateness: Record<string, unknown> = {};
for (const system of SYSTEMS) cronLateness[system] = run('cron-lateness.ts', system, '1000', '2');
const idle: Record<string, unknown> = { kairos: run('idle-kairos.ts', '100000', '60') };
for (const system of ['graphile-worker', 'pg-boss']) idle[system] = run('scenario.ts', system, 'idle', '60');

const drainRate = (system: string) => (drain[system] as { median: { jobsPerSecond: number } }).median.jobsPerSecond;
const ratioToGraphile = (system: string) => Math.round((drainRate(system) / drainRate('graphile-worker')) * 100) / 100;
const report = {
  drain,
  drainRatioKairosToGraphileWorker: ratioToGraphile('kairos'),
  drainRatioKairosPrefetchToGraphileWorker: ratioToGraphile('kairos-prefetch'),
  latency,
  fireLateness: {
    kairos: fireLateness,
    kairosFiringAhead: fireLatenessAhead,
    peers:
      'graphile-worker and pg-boss schedule with minute-resolution cron only, so neither can fire 1,000 schedules every second: see cronLateness for all three on the same burst once a minute',
  },
  cronLateness: {
    ...cronLateness,
    note: "1,000 schedules firing every minute ('* * * * *', each system's own cron feature) on 2 node processes, 2 minute boundaries; lateness = start of the task in the worker - fire time. pg-boss's jobs do not carry their occurrence, so its fire time is the minute the job started in. pg-boss with cronMonitorIntervalSeconds 1 and cronWorkerIntervalSeconds 1 (its minimum); graphile-worker and Kairos with the drain's settings and defaults.",
  },
  idle: {
    ...idle,
    note: 'Kairos: one node holding 100,000 schedules, none due. Peers: an idle worker of one queue with their default polling (they hold no such schedules).',
  },
  settings:
    'All run 100 jobs at once. graphile-worker: localQueue.size 1000 (measured about 15% faster than 500 here; 2000 no faster), completeJobBatchDelay 0, failJobBatchDelay 0, preparedStatements. pg-boss: useListenNotify, queue notify, batchSize 100, burstWhenBatchFull, pollingIntervalSeconds 0.5. Kairos: defaults (maxConcurrentJobs 100, batchSize 100, preparedStatements); the drain also with prefetchJobs 1000 and batchSize 1000 (kairos-prefetch: claims of up to 1000 and a local queue of 1000, the size given to the local queue of graphile-worker here; 1000 measured about 6% faster than 500 in 4 interleaved rounds); fire lateness also with fireAhead 300ms and maxConcurrentJobs 1000 (kairosFiringAhead). Drain figures per job: workerCpuUsPerJob is the benchmark process (the worker), restOfMachineCpuUsPerJob the rest of the machine (mostly the database server), walBytesPerJob the WAL the server wrote. Tables ANALYZEd after preloading, for every system. Latency runs also count every query the process sent per job (queriesPerJob: adding, notifying, claiming, recording and any polling, one job every ~20 ms). Kairos also writes an execution (history) row per job; the peers keep none.',
  targets: {
    drain:
      'Kairos >= 1.25 x graphile-worker (reference on this kind of machine: graphile-worker 0.17 about 12,500 jobs/s, pg-boss 10 about 2,100)',
    latency: 'Kairos p50 <= 3 ms, p99 <= 10 ms (reference: graphile-worker 5.6 / 12.5 ms)',
    fireLateness: 'p99 <= 50 ms',
    idle: '<= 2 queries/s per node',
  },
};
const path = writeReport('postgres', report);
console.error(`written to ${path}`);
