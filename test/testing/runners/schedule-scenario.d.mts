// Types for the plain-JavaScript scenario shared by the vitest, node:test and jest runs.
import type { cron as cronFactory } from '../../../src/index.ts';
import type { createTestScheduler as createTestSchedulerFactory } from '../../../src/testing/index.ts';

export function runScenario(parts: {
  createTestScheduler: typeof createTestSchedulerFactory;
  cron: typeof cronFactory;
}): Promise<Array<[string, unknown, string]>>;

export const expected: Array<[string, unknown, string]>;
