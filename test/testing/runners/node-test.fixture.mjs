// Run by `node --test`: the test scheduler under Node's own runner, with its mock timers enabled.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { cron } from 'kairos';
import { createTestScheduler } from 'kairos/testing';
import { expected, runScenario } from './schedule-scenario.mjs';

test('advances a virtual day under node:test, even with mock timers on', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate', 'Date'] });
  try {
    assert.deepEqual(await runScenario({ createTestScheduler, cron }), expected);
  } finally {
    mock.timers.reset();
  }
});
