import { hostname } from 'node:os';
import { consoleLogger } from '../common/logger.ts';
import { uuidv7 } from '../common/uuid.ts';
import { idArgument } from './call-arguments.ts';
import { LocalEventBroker } from '../events/local-event-broker.ts';
import { MemoryStore } from '../stores/memory/memory-store.ts';
import type { DataStore } from '../stores/data-store.ts';
import { steadyNow, systemClock } from '../time/clock.ts';
import { ActivityTracker } from './activity-tracker.ts';
import { resolveOptions, type SchedulerOptions } from './scheduler-options.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';
import { TaskRegistry } from './task-registry.ts';
import { TriggerCache } from './trigger-cache.ts';

/**
 * How far the node's wall and monotonic clocks may part between two readings of the store's clock
 * before the offset kept against the monotonic one is no longer trusted (see `clocksDiverged`).
 */
const CLOCK_DIVERGENCE_MS = 1000;

/** The parts a scheduler shares among its loops, from its options and their defaults. */
export function createRuntime(options: SchedulerOptions): SchedulerRuntime {
  const resolved = resolveOptions(options);
  const store: DataStore = options.store ?? new MemoryStore();
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? consoleLogger('warn');
  const events = options.eventBroker ?? store.defaultEventBroker?.(logger) ?? new LocalEventBroker();
  // A store in the process keeps a clock of the process (usually this node's: it then follows its
  // steps at once); a database keeps its own, which the node can only estimate (`skewMs`).
  const storeHasClock = store.now !== undefined;
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
    // (Until the store's clock is read: the node's wall clock.)
    skewMs: storeHasClock ? clock.now() - steadyNow(clock) : 0,
    observedAt: { wall: clock.now(), steady: steadyNow(clock) },
    storeNow() {
      return steadyNow(clock) + this.storeOffsetMs();
    },
    observeStoreTime(storeTime, sentAt) {
      this.observedAt = { wall: clock.now(), steady: steadyNow(clock) };
      if (!storeHasClock) {
        this.skewMs = storeTime - clock.now();
        return;
      }
      // The store read its clock at some moment of the round trip, so the offset lies between
      // these two. Moved only as far as needed to stay between them: an answer that came late
      // (a slow link, a busy event loop) allows a wide range and leaves a good estimate alone,
      // where taking it as read at its arrival would put the store's time behind by the delay.
      const earliest = storeTime - steadyNow(clock);
      const latest = storeTime - sentAt;
      this.skewMs = Math.min(Math.max(this.skewMs, earliest), latest);
    },
    clocksDiverged() {
      const wallElapsed = clock.now() - this.observedAt.wall;
      const steadyElapsed = steadyNow(clock) - this.observedAt.steady;
      return storeHasClock && Math.abs(wallElapsed - steadyElapsed) > CLOCK_DIVERGENCE_MS;
    },
    storeOffsetMs() {
      return storeHasClock ? this.skewMs : this.skewMs + clock.now() - steadyNow(clock);
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
