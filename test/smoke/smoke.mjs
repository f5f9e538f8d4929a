// A smoke run of the built package (dist/) on whatever Node runs this file: CI runs it on Node 22,
// the oldest Node Kairos supports. It exercises the public entry points end to end.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cron, interval, triggerFromJSON } from '../../dist/index.js';
import { createTestScheduler } from '../../dist/testing/index.js';
import { SqliteStore } from '../../dist/sqlite.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const scheduler = createTestScheduler({ now: '2030-01-07T00:00:00Z' });
scheduler.task('tick', (ctx) => ctx.fireTime?.toISOString());
await scheduler.addSchedule('tick', interval({ minutes: 15 }), { id: 'quarterly' });
await scheduler.addSchedule('tick', cron('0 9 * * mon-fri', { timezone: 'Europe/Berlin' }), {
  id: 'weekday-9',
});
await scheduler.start();
await scheduler.advance('25h');
const history = await scheduler.history();
assert.equal(history.filter((e) => e.scheduleId === 'quarterly').length, 101);
assert.deepEqual(
  history.filter((e) => e.scheduleId === 'weekday-9').map((e) => e.fireTime.toISOString()),
  ['2030-01-07T08:00:00.000Z'],
);
await scheduler.stop();

const trigger = triggerFromJSON({ type: 'cron', expression: '0 0 L * *', timezone: 'UTC' });
assert.equal(trigger.next(new Date('2030-02-01T00:00:00Z')).toISOString(), '2030-02-28T00:00:00.000Z');

const cli = execFileSync(
  process.execPath,
  [
    'dist/cli/main.js',
    'next',
    '{"type":"interval","hours":6,"timezone":"UTC"}',
    '--from',
    '2030-01-01T01:00:00Z',
    '-n',
    '2',
  ],
  {
    encoding: 'utf8',
  },
);
assert.equal(cli.trim(), '2030-01-01T06:00:00+00:00\n2030-01-01T12:00:00+00:00');
// The SQLite store on both drivers, through a restart.
const dir = mkdtempSync(join(tmpdir(), 'kairos-smoke-'));
for (const driver of ['node:sqlite', 'better-sqlite3']) {
  const path = join(dir, `${driver.replace(':', '-')}.db`);
  for (const start of ['2030-01-07T00:00:00Z', '2030-01-07T01:00:00Z']) {
    const s = createTestScheduler({ now: start, store: new SqliteStore({ path, driver }) });
    s.task('tick', () => 'ok');
    await s.addSchedule('tick', interval({ minutes: 30 }), { id: 'half-hourly' });
    await s.start();
    await s.runDue();
    await s.stop();
  }
  const s = createTestScheduler({ now: '2030-01-07T01:00:00Z', store: new SqliteStore({ path, driver }) });
  // 00:00 on the first start, then the 00:30 fire missed while down coalesced into the 01:00 one.
  assert.deepEqual(
    (await s.history()).map((e) => e.fireTime.toISOString()),
    ['2030-01-07T00:00:00.000Z', '2030-01-07T01:00:00.000Z'],
  );
  await s.stop();
}
rmSync(dir, { recursive: true, force: true });

console.log(`smoke ok on Node ${process.version}`);
