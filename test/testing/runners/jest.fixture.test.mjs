// Run by jest (ESM mode): the test scheduler under jest, with jest's fake timers on.
import { expect, jest, test } from '@jest/globals';
import { cron } from '../../../dist/index.js';
import { createTestScheduler } from '../../../dist/testing/index.js';
import { expected, runScenario } from './schedule-scenario.mjs';

test('advances a virtual day under jest, even with fake timers on', async () => {
  jest.useFakeTimers();
  try {
    expect(await runScenario({ createTestScheduler, cron })).toEqual(expected);
  } finally {
    jest.useRealTimers();
  }
});
