import { ValidationError } from '../errors.ts';
import { type Duration, parseDuration } from '../time/duration.ts';

/**
 * How a task's failed runs are retried. `attempts` counts runs that may end `failed` or
 * `timed_out` (1 = no retry). A run cut short because its node died is a different matter: it is
 * not the task's fault, so it is re-run `abandoned` more times on its own budget, like BullMQ's
 * stalled-job count, so that a job that kills its node cannot take the cluster down one node at a time.
 */
export interface RetryOptions {
  /** Runs in total that may fail before the job gives up. (Default: 1, no retry.) */
  attempts?: number;
  /**
   * Delay before retry n (n = 1, 2, ...): a fixed `Duration`, or exponential
   * `initial * factor^(n-1)` capped at `max`, with up to `jitter` (0..1) of it randomised.
   * (Default: `{ initial: '1s', factor: 2, max: '1h', jitter: 0.1 }`.)
   */
  backoff?: Duration | BackoffOptions;
  /** Re-runs after the node running the job died (lease expired) or shut down without finishing it. (Default: 2.) */
  abandoned?: number;
}

export interface BackoffOptions {
  /** (Default: '1s'.) */
  initial?: Duration;
  /** (Default: 2.) */
  factor?: number;
  /** (Default: '1h'.) */
  max?: Duration;
  /** Share of each delay that is randomised, to spread retries of many jobs. (Default: 0.1.) */
  jitter?: number;
}

export interface RetryPolicy {
  attempts: number;
  abandoned: number;
  /** Milliseconds to wait before the run after `failedAttempt` (1-based). */
  delayAfter(failedAttempt: number, random: () => number): number;
}

export function parseRetryPolicy(field: string, options: RetryOptions | undefined): RetryPolicy {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new ValidationError(field, options, 'must be an object like { attempts: 3, backoff: "10s" }');
  }
  const attempts = options?.attempts ?? 1;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 1000) {
    throw new ValidationError(`${field}.attempts`, attempts, 'must be an integer from 1 to 1000');
  }
  const abandoned = options?.abandoned ?? 2;
  if (!Number.isInteger(abandoned) || abandoned < 0 || abandoned > 1000) {
    throw new ValidationError(`${field}.abandoned`, abandoned, 'must be an integer from 0 to 1000');
  }
  const backoff = options?.backoff;
  if (typeof backoff === 'number' || typeof backoff === 'string') {
    const fixed = parseDuration(`${field}.backoff`, backoff);
    return { attempts, abandoned, delayAfter: () => fixed };
  }
  if (backoff !== undefined && (typeof backoff !== 'object' || backoff === null)) {
    throw new ValidationError(`${field}.backoff`, backoff, 'must be a duration or { initial, factor, max, jitter }');
  }
  const initial = parseDuration(`${field}.backoff.initial`, backoff?.initial ?? '1s');
  const max = parseDuration(`${field}.backoff.max`, backoff?.max ?? '1h');
  const factor = backoff?.factor ?? 2;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
    throw new ValidationError(`${field}.backoff.factor`, factor, 'must be a number >= 1');
  }
  const jitter = backoff?.jitter ?? 0.1;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new ValidationError(`${field}.backoff.jitter`, jitter, 'must be a number from 0 to 1');
  }
  return {
    attempts,
    abandoned,
    delayAfter(failedAttempt, random) {
      // factor ** n may overflow to Infinity (and 0 * Infinity is NaN): capped, it is `max`.
      const grown = initial === 0 ? 0 : initial * factor ** Math.max(0, failedAttempt - 1);
      const base = Math.min(max, grown);
      return Math.round(base * (1 - jitter * random()));
    },
  };
}
