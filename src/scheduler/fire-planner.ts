import type { CoalescePolicy } from '../stores/records.ts';
import type { Trigger } from '../triggers/trigger.ts';

/** Individually recorded `missed` fires per pass; beyond this, one summary record stands for the rest. */
export const MAX_MISSED_RECORDS = 100;
/** Jobs made for one schedule in one pass (coalesce 'all'); the rest are made on the next pass. */
export const MAX_JOBS_PER_PASS = 1000;
/** Fire times stepped through when looking for the latest due one, before jumping ahead. */
const MAX_STEPS = 1000;
/** Look-back windows tried, shortest first, when the due fire times are too many to step through. */
const LOOK_BACK_MS = [
  1, 10, 100, 1_000, 60_000, 3_600_000, 86_400_000, 604_800_000, 2_678_400_000, 31_622_400_000, 316_224_000_000,
];

export interface FirePolicy {
  coalesce: CoalescePolicy;
  /** Milliseconds; `null`: no limit. */
  misfireGraceTime: number | null;
}

/** What one pass over a due schedule decides (DESIGN §3: coalesce, then misfire). */
export interface FirePlan {
  /** Fire times to make jobs for. */
  run: number[];
  /** Fire times recorded `missed` (too late to start). */
  missed: number[];
  /** More fire times were missed than recorded individually: the span they fell in. */
  missedBeyond: { from: number; until: number } | null;
  lastFireTime: number | null;
  /** The schedule's next fire time; may still be due when a pass was capped. */
  nextFireTime: number | null;
}

/**
 * Decides what the due fire times of a schedule become, from its first due fire time `first`
 * up to `now` (the store's clock). `latest` and `earliest` make one job for the whole batch, `all`
 * one per fire time; a fire that can no longer start within the grace time is recorded `missed`.
 * Bounded work for any downtime: a schedule firing every second that was down for a year is
 * settled in a few steps, never a stampede.
 */
export function planFires(trigger: Trigger, first: number, now: number, policy: FirePolicy): FirePlan {
  const graceStart = policy.misfireGraceTime === null ? Number.NEGATIVE_INFINITY : now - policy.misfireGraceTime;
  if (policy.coalesce === 'all') return planAll(trigger, first, now, graceStart);

  const latest = latestDue(trigger, first, now);
  const chosen = policy.coalesce === 'latest' ? latest : first;
  const late = chosen < graceStart;
  return {
    run: late ? [] : [chosen],
    missed: late ? [chosen] : [],
    missedBeyond: null,
    lastFireTime: latest,
    nextFireTime: nextAfter(trigger, latest),
  };
}

function planAll(trigger: Trigger, first: number, now: number, graceStart: number): FirePlan {
  const plan: FirePlan = {
    run: [],
    missed: [],
    missedBeyond: null,
    lastFireTime: null,
    nextFireTime: null,
  };
  let time: number | null = first;
  while (time !== null && time <= now && time < graceStart) {
    if (plan.missed.length === MAX_MISSED_RECORDS) {
      // Too many to list: jump to the first fire time that can still start in time.
      plan.missedBeyond = { from: time, until: graceStart };
      time = nextAfter(trigger, graceStart - 1);
      break;
    }
    plan.missed.push(time);
    plan.lastFireTime = time;
    time = nextAfter(trigger, time);
  }
  while (time !== null && time <= now && plan.run.length < MAX_JOBS_PER_PASS) {
    plan.run.push(time);
    plan.lastFireTime = time;
    time = nextAfter(trigger, time);
  }
  plan.nextFireTime = time;
  return plan;
}

/** The last fire time at or before `now`, given that `first` (<= now) is one. */
function latestDue(trigger: Trigger, first: number, now: number): number {
  const stepped = stepToNow(trigger, first, now);
  if (stepped !== null) return stepped;
  // Many fires are due: find the shortest look-back window ending at `now` that holds one.
  for (const window of LOOK_BACK_MS) {
    const from = Math.max(first, now - window);
    const candidate = nextAfter(trigger, from - 1);
    if (candidate !== null && candidate <= now) {
      const found = stepToNow(trigger, candidate, now);
      if (found !== null) return found;
    }
  }
  return first; // unreachable for a well-behaved trigger; `first` is a safe answer
}

/** Steps from `time` through fire times up to `now`; null when that takes more than MAX_STEPS. */
function stepToNow(trigger: Trigger, time: number, now: number): number | null {
  let last = time;
  for (let step = 0; step < MAX_STEPS; step++) {
    const next = nextAfter(trigger, last);
    if (next === null || next > now) return last;
    last = next;
  }
  return null;
}

function nextAfter(trigger: Trigger, time: number): number | null {
  const next = trigger.next(new Date(time));
  return next === null ? null : next.getTime();
}
