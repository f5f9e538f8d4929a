import { ValidationError } from '../errors.ts';
import type { TaskLimit } from '../stores/data-store.ts';
import { type Duration, parseDuration } from '../time/duration.ts';
import type { JobContext } from './job-context.ts';
import { parseRetryPolicy, type RetryOptions, type RetryPolicy } from './retry-policy.ts';

/** A task's code. Its return value (JSON) becomes the execution's `result`. */
// biome-ignore lint/suspicious/noExplicitAny: task arguments are whatever JSON the caller stores.
export type TaskFunction<Args = any, Result = unknown> = (context: JobContext, args: Args) => Result | Promise<Result>;

export interface TaskOptions {
  /** A run longer than this is aborted through `ctx.signal` and recorded `timed_out`. (Default: no limit.) */
  timeout?: Duration | null;
  /** Retries of failed and timed-out runs, and re-runs after a node dies. (Default: no retry; 2 re-runs after abandonment.) */
  retry?: RetryOptions;
  /** Cluster-wide cap on running jobs of this task. (Default: no cap.) */
  maxRunningJobs?: number | null;
  /** Shown in the console and the CLI. */
  description?: string;
}

export interface RegisteredTask {
  name: string;
  fn: TaskFunction;
  timeoutMs: number | null;
  retry: RetryPolicy;
  maxRunningJobs: number | null;
  description: string | null;
}

const TASK_NAME = /^[\w.:/@-]{1,200}$/;

/** The tasks this node can run. Only registered tasks run: the store holds names, never code. */
export class TaskRegistry {
  private readonly tasks = new Map<string, RegisteredTask>();
  private limitsCache: TaskLimit[] | null = null;
  private namesCache: string[] | null = null;

  register(name: unknown, fn: unknown, options: TaskOptions = {}): RegisteredTask {
    validateTaskName(name);
    if (typeof fn !== 'function') {
      throw new ValidationError(
        `task ${JSON.stringify(name)} function`,
        fn,
        'must be a function (ctx, args) => result',
      );
    }
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError(`task ${JSON.stringify(name)} options`, options, 'must be an object');
    }
    const field = `task ${JSON.stringify(name)}`;
    const maxRunningJobs = options.maxRunningJobs ?? null;
    if (maxRunningJobs !== null && (!Number.isInteger(maxRunningJobs) || maxRunningJobs < 1)) {
      throw new ValidationError(`${field} maxRunningJobs`, maxRunningJobs, 'must be a positive integer or null');
    }
    const timeout = options.timeout ?? null;
    const task: RegisteredTask = {
      name,
      fn: fn as TaskFunction,
      timeoutMs: timeout === null ? null : parseDuration(`${field} timeout`, timeout),
      retry: parseRetryPolicy(`${field} retry`, options.retry),
      maxRunningJobs,
      description: options.description ?? null,
    };
    this.tasks.set(name, task);
    this.limitsCache = null;
    this.namesCache = null;
    return task;
  }

  get(name: string): RegisteredTask | undefined {
    return this.tasks.get(name);
  }

  has(name: string): boolean {
    return this.tasks.has(name);
  }

  all(): RegisteredTask[] {
    return [...this.tasks.values()];
  }

  /** What the store needs to hand out only jobs this node can run, within each task's cap. */
  limits(): readonly TaskLimit[] {
    this.limitsCache ??= this.all().map((task) => ({
      name: task.name,
      maxRunningJobs: task.maxRunningJobs,
      abandonRetries: task.retry.abandoned,
    }));
    return this.limitsCache;
  }

  names(): readonly string[] {
    this.namesCache ??= [...this.tasks.keys()];
    return this.namesCache;
  }
}

export function validateTaskName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !TASK_NAME.test(name)) {
    throw new ValidationError('task name', name, 'must be 1-200 characters of letters, digits and _ . : / @ -');
  }
}
