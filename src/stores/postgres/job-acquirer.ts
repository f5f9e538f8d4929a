import type { AcquiredJobs, AcquireJobsOptions, TaskLimit } from '../data-store.ts';
import type { JobRecord } from '../records.ts';
import type { PgPoolClient, PgQueryable } from './pg-types.ts';
import { acquireCappedJobs, acquireUncappedJobs } from './postgres-jobs.ts';

/** The store's ways of sending statements, which a `JobAcquirer` claims through. */
export interface AcquireStatements {
  /** The schema, quoted for SQL. */
  readonly s: string;
  readonly schemaName: string;
  /** Where statements go now. */
  db(): PgQueryable;
  /** SQL for "now" (the database's clock, or a test clock). */
  nowSql(): string;
  /** `work`, its `pg` error turned into a `StoreError` that names `action`. */
  run<T>(action: string, work: () => Promise<T>): Promise<T>;
  transaction<T>(action: string, work: (client: PgPoolClient) => Promise<T>): Promise<T>;
}

/**
 * Claims due jobs for a node's free places. Uncapped jobs (no `maxInstances`, no task cap) are
 * claimed in one statement; capped ones in a transaction that judges their caps (see
 * `acquireCappedJobs`), and the two share the places (see `acquire`).
 */
export class JobAcquirer {
  /** Capped jobs were due but not all handed out at the last acquire. */
  private cappedWaiting = false;

  private readonly store: AcquireStatements;

  constructor(store: AcquireStatements) {
    this.store = store;
  }

  async acquire(node: string, options: AcquireJobsOptions): Promise<AcquiredJobs> {
    const { leaseMs, limit, tasks } = options;
    const startNow = options.startNow ?? limit;
    // While capped jobs wait, uncapped ones take at most half the slots, so a flood of one-off
    // jobs cannot starve scheduled ones (which are capped by max instances).
    const uncappedLimit = this.cappedWaiting ? Math.floor(limit / 2) : limit;
    const uncapped = (wanted: number, claimed: number) =>
      this.store.run('acquire jobs', () =>
        acquireUncappedJobs(
          this.store.db(),
          this.store.s,
          this.store.nowSql(),
          node,
          leaseMs,
          wanted,
          tasks,
          Math.max(0, startNow - claimed),
        ),
      );
    const fast =
      uncappedLimit > 0
        ? await uncapped(uncappedLimit, 0)
        : { now: new Date(), jobs: [], cappedDue: true, next: undefined };
    this.cappedWaiting = fast.cappedDue;
    const room = limit - fast.jobs.length;
    if (room > 0 && !fast.cappedDue && fast.jobs.length === uncappedLimit) {
      // Held to half for capped jobs that are no longer due: the rest of the places are for
      // uncapped ones too. (An acquire hands out every due job it can; a node that gets fewer
      // than it asked for takes it that none is left.)
      const more = await this.orClaimed(fast, () => uncapped(room, fast.jobs.length));
      this.cappedWaiting = more.cappedDue;
      return {
        now: fast.now,
        jobs: [...fast.jobs, ...more.jobs],
        next: more.next,
        ...heldBackOf(more),
        ...incompleteIf(more),
      };
    }
    if (!fast.cappedDue || room <= 0) return { now: fast.now, jobs: fast.jobs, next: fast.next, ...heldBackOf(fast) };
    const capped = await this.orClaimed(fast, () => this.acquireCapped(node, leaseMs, room, tasks, startNow, fast));
    return { now: capped.now, jobs: [...fast.jobs, ...capped.jobs], ...heldBackOf(fast), ...incompleteIf(capped) };
  }

  /**
   * The rest of an acquire (`rest`: the jobs it claims besides `fast`'s), after its first claim
   * already leased `fast.jobs` to the node. Should the rest fail (the database went away
   * meanwhile), it counts as having claimed nothing, so the acquire still hands out those jobs:
   * lost to the node, they would wait for their leases to expire and be recorded `abandoned` unrun
   * (a job with no abandonment retry, never run at all). The failure shows at the next acquire,
   * which tries the capped jobs again. The rest may have gone through with its answer lost: the
   * acquire says it is `incomplete`.
   */
  private async orClaimed<T>(fast: { now: Date; jobs: JobRecord[] }, rest: () => Promise<T>): Promise<T | FailedRest> {
    try {
      return await rest();
    } catch (error) {
      if (fast.jobs.length === 0) throw error;
      this.cappedWaiting = true;
      return { now: fast.now, jobs: [], cappedDue: true, next: undefined, failed: true };
    }
  }

  /** Claims capped jobs for `room` places, in a transaction (see `acquireCappedJobs`). */
  private acquireCapped(
    node: string,
    leaseMs: number,
    room: number,
    tasks: readonly TaskLimit[],
    startNow: number,
    fast: { now: Date; jobs: JobRecord[] },
  ): Promise<{ now: Date; jobs: JobRecord[] }> {
    return this.store.transaction('acquire jobs', async (client) => {
      const { rows } = await client.query<{ now: Date }>(`SELECT ${this.store.nowSql()} AS now`);
      const capped = await acquireCappedJobs(
        client,
        this.store.s,
        this.store.schemaName,
        this.store.nowSql(),
        node,
        leaseMs,
        room,
        tasks,
        Math.max(0, startNow - fast.jobs.length),
      );
      this.cappedWaiting = capped.length === room;
      return { now: rows[0]?.now ?? fast.now, jobs: capped };
    });
  }
}

/** What stands in for the rest of an acquire that failed (see `orClaimed`). */
interface FailedRest {
  now: Date;
  jobs: JobRecord[];
  cappedDue: true;
  next: undefined;
  failed: true;
}

function incompleteIf(rest: object & { failed?: true }): Pick<AcquiredJobs, 'incomplete'> {
  return rest.failed === true ? { incomplete: true } : {};
}

/** The held-back tasks a claim reported (the stand-in of one that failed reports none: unknown). */
function heldBackOf(claimed: object & { heldBackTasks?: string[] }): Pick<AcquiredJobs, 'heldBackTasks'> {
  return claimed.heldBackTasks === undefined ? {} : { heldBackTasks: claimed.heldBackTasks };
}
