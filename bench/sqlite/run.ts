// `npm run bench:sqlite`: the SQLite store benchmarks, each run in its own process, figures
// printed as JSON and written to bench/results/. Drains run three times (median reported, all
// runs kept); the one-minute lateness scenario runs once per driver.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScenario, writeReport } from '../bench-report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const run = (name: string, ...args: string[]) => {
  console.error(`running ${name} ${args.join(' ')} ...`);
  return runScenario(join(here, `${name}.ts`), args) as Record<string, number>;
};
function median(name: string, key: string, ...args: string[]) {
  const runs = [1, 2, 3].map(() => run(name, ...args));
  const sorted = [...runs].sort((a, b) => (a[key] as number) - (b[key] as number));
  return { median: sorted[1], runs };
}

const dir = mkdtempSync(join(tmpdir(), 'kairos-bench-startup-'));
const startUp = (driver: string) => {
  const path = join(dir, `${driver.replace(':', '-')}.db`);
  run('start-up', 'fill', path, '100000', driver);
  return median('start-up', 'startUpMs', 'start', path, '100000', driver);
};

const report = {
  drain: {
    oneProcess: median('drain-jobs', 'jobsPerSecond', '1', '20000', 'better-sqlite3'),
    twoProcesses: median('drain-jobs', 'jobsPerSecond', '2', '20000', 'better-sqlite3'),
    oneProcessNodeSqlite: median('drain-jobs', 'jobsPerSecond', '1', '20000', 'node:sqlite'),
  },
  fireLateness: {
    betterSqlite3: run('fire-lateness', '10000', 'better-sqlite3'),
    nodeSqlite: run('fire-lateness', '10000', 'node:sqlite'),
  },
  startUp: { betterSqlite3: startUp('better-sqlite3'), nodeSqlite: startUp('node:sqlite') },
  targets: {
    drain:
      'oneProcess jobsPerSecond >= 10000 (APScheduler 3.9 + SQLAlchemy on SQLite: about 440 jobs/s on this kind of machine)',
    fireLateness: 'latenessP99Ms <= 50 with 10,000 schedules due across a minute',
    startUp: 'startUpMs <= 1000 with 100,000 stored schedules (new Scheduler() to start() resolved)',
  },
};
rmSync(dir, { recursive: true, force: true });
const path = writeReport('sqlite', report);
console.error(`written to ${path}`);
