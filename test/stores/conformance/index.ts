import type { StoreFactory } from './harness.ts';
import { historyConformance } from './history-conformance.ts';
import { jobConformance } from './job-conformance.ts';
import { scheduleConformance } from './schedule-conformance.ts';

/** The behaviour every `DataStore` must have; each store's test file runs it against a fresh store. */
export function storeConformance(factory: StoreFactory): void {
  scheduleConformance(factory);
  jobConformance(factory);
  historyConformance(factory);
}
