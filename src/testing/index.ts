export { createTestScheduler, TestScheduler, type TestSchedulerOptions } from './test-scheduler.ts';
export { VirtualClock } from './virtual-clock.ts';
