// Scenario (a): drain 20,000 pre-added no-op one-off jobs from one SQLite file with N node
// processes; jobs/s from "go" until the last execution is recorded.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Scheduler, silentLogger } from 'kairos';
import { SqliteStore } from 'kairos/sqlite';
import { round } from '../bench-report.ts';

const [nodesArg = '1', countArg = '20000', driver = 'better-sqlite3'] = process.argv.slice(2);
const NODES = Number(nodesArg);
const COUNT = Number(countArg);
const dir = mkdtempSync(join(tmpdir(), 'kairos-bench-drain-'));
const path = join(dir, 'drain.db');

// Pre-add the jobs through the API (not timed).
const setup = new Scheduler({
  store: new SqliteStore({ path, driver: driver as 'better-sqlite3' }),
  logger: silentLogger,
});
setup.task('noop', () => {});
for (let i = 0; i < COUNT; i++) await setup.addJob('noop');
await setup.stop();

const nodeScript = fileURLToPath(new URL('./drain-node.ts', import.meta.url));
const children = Array.from({ length: NODES }, () =>
  spawn(process.execPath, ['--conditions=kairos-source', nodeScript, path, driver], {
    stdio: ['pipe', 'pipe', 'inherit'],
  }),
);
const lines = children.map((child) => {
  const queue: string[] = [];
  let wake: (() => void) | null = null;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    queue.push(...chunk.split('\n').filter(Boolean));
    wake?.();
  });
  return async (): Promise<string> => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift() as string;
  };
});
for (const next of lines) if ((await next()) !== 'ready') throw new Error('a node did not start');

// Count executions on a connection of our own.
const observer = new Scheduler({
  store: new SqliteStore({ path, driver: driver as 'better-sqlite3' }),
  logger: silentLogger,
});
await observer.ready();
const recorded = async () => (await observer.getJobs({ limit: 1 })).items.length === 0;

const started = performance.now();
for (const child of children) child.stdin.write('go\n');
while (!(await recorded())) await new Promise((resolve) => setTimeout(resolve, 10));
const seconds = (performance.now() - started) / 1000;
await observer.stop();

for (const child of children) child.kill('SIGTERM');
const perNode = (await Promise.all(lines.map((next) => next()))).map(
  (line) => (JSON.parse(line) as { ran: number }).ran,
);
rmSync(dir, { recursive: true, force: true });
if (perNode.reduce((a, b) => a + b, 0) !== COUNT) throw new Error(`ran ${perNode} jobs, expected ${COUNT} in total`);
console.log(
  JSON.stringify({
    nodes: NODES,
    driver,
    jobs: COUNT,
    seconds: round(seconds, 3),
    jobsPerSecond: Math.round(COUNT / seconds),
    perNode,
  }),
);
