import type { JsonValue } from '../common/json-value.ts';
import type { Logger } from '../common/logger.ts';
import type { Duration } from '../time/duration.ts';

/** What a task function receives about the job it is running. */
export interface JobContext {
  jobId: string;
  task: string;
  args: JsonValue;
  /** The schedule that fired this job, or `null` for a job added directly. */
  scheduleId: string | null;
  /** The schedule's fire time this job stands for: use it (not the clock) to make work idempotent. */
  fireTime: Date | null;
  /** When the job was due to start. */
  runAt: Date;
  /** 1 on the first run; higher on retries and on re-runs after a node died. */
  attempt: number;
  /** The node running the job. */
  node: string;
  /** Aborted on timeout, cancellation, lost lease or shutdown; `signal.reason` says which. */
  signal: AbortSignal;
  /** The scheduler's logger, with the job's id and task bound. */
  logger: Logger;
  /** Waits on the scheduler's clock (the virtual clock in tests); rejects when `signal` aborts. */
  sleep(duration: Duration): Promise<void>;
}

/** Why a running job was interrupted; carried as `ctx.signal.reason`. */
export class JobInterruption extends Error {
  readonly kind: 'timeout' | 'cancelled' | 'lease_lost' | 'shutdown';

  constructor(kind: JobInterruption['kind'], message: string) {
    super(message);
    this.name = 'JobInterruption';
    this.kind = kind;
  }
}

/** A logger that adds the job's identity to every line. */
export function jobLogger(logger: Logger, bound: object): Logger {
  return {
    debug: (fields, message) => logger.debug({ ...bound, ...fields }, message),
    info: (fields, message) => logger.info({ ...bound, ...fields }, message),
    warn: (fields, message) => logger.warn({ ...bound, ...fields }, message),
    error: (fields, message) => logger.error({ ...bound, ...fields }, message),
  };
}
