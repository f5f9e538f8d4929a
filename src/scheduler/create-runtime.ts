import { hostname } from 'node:os';
import { consoleLogger } from '../common/logger.ts';
import { uuidv7 } from '../common/uuid.ts';
import { idArgument } from './call-arguments.ts';
import { LocalEventBroker } from '../events/local-event-broker.ts';
import { MemoryStore } from '../stores/memory/memory-store.ts';
import type { DataStore } from '../stores/data-store.ts';
import { systemClock } from '../time/clock.ts';
import { ActivityTracker } from './activity-tracker.ts';
import { resolveOptions, type SchedulerOptions } from './scheduler-options.ts';
import { StoreClock } from './store-clock.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';
import { TaskRegistry } from './task-registry.ts';
import { TriggerCache } from './trigger-cache.ts';

/** The parts a scheduler shares among its loops, from its options and their defaults. */
export function createRuntime(options: SchedulerOptions): SchedulerRuntime {
  const resolved = resolveOptions(options);
  const store: DataStore = options.store ?? new MemoryStore();
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? consoleLogger('warn');
  const events = options.eventBroker ?? store.defaultEventBroker?.(logger) ?? new LocalEventBroker();
  // A database keeps a clock of its own, which the node can only estimate (see StoreClock).
  const storeClock = new StoreClock(clock, store);
  const node = idArgument('Scheduler nodeId', options.nodeId ?? `${hostname()}:${process.pid}:${uuidv7().slice(-6)}`);
  return {
    node,
    clock,
    store,
    events,
    logger,
    tasks: new TaskRegistry(),
    triggers: new TriggerCache(),
    activity: new ActivityTracker(),
    options: resolved,
    random: options.random ?? Math.random,
    storeClock,
    storeNow() {
      return storeClock.now();
    },
    reportError(operation, error) {
      const described = {
        name: error instanceof Error ? error.name : 'Error',
        message: error instanceof Error ? error.message : String(error),
      };
      try {
        logger.error({ node, operation, error: described }, `${operation} failed; will retry`);
      } catch {
        // A logger that throws must not turn a survived failure into a fatal one.
      }
      events.publish({ type: 'scheduler.error', timestamp: new Date(clock.now()), node, operation, error: described });
    },
  };
}
