// One node of the drain scenario: waits for "go" on stdin, then runs no-op jobs from the file
// until told to stop (SIGTERM), then prints how many it ran.
import { Scheduler, silentLogger } from 'kairos';
import { SqliteStore } from 'kairos/sqlite';

const [path, driver] = process.argv.slice(2) as [string, 'better-sqlite3' | 'node:sqlite'];
const scheduler = new Scheduler({ store: new SqliteStore({ path, driver }), logger: silentLogger });
let ran = 0;
scheduler.task('noop', () => {
  ran++;
});
await scheduler.ready();
process.stdout.write('ready\n');
process.stdin.once('data', () => void scheduler.start());
process.once('SIGTERM', async () => {
  await scheduler.stop();
  process.stdout.write(`${JSON.stringify({ ran })}\n`);
  process.exit(0);
});
