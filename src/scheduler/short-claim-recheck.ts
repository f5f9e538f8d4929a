import type { Clock, TimerHandle } from '../time/clock.ts';

/** How soon the job loop looks again after a claim that came back short of its free slots. */
export const SHORT_CLAIM_RECHECK_MS = 200;

/**
 * A claim that got fewer jobs than the node had free slots for is taken to mean that nothing else
 * was due, so freed slots do not wake the job loop at once. But a claim can come back short with
 * work left: on PostgreSQL, rows that another node's claim briefly locks are skipped (`SKIP
 * LOCKED`). So the loop looks once more a moment later, when room is left after such a claim or a
 * slot frees, unless another claim came meanwhile (it saw that room). At most one look is pending.
 */
export class ShortClaimRecheck {
  private readonly clock: Clock;
  private readonly wake: () => void;
  private timer: TimerHandle | null = null;
  private claims = 0;
  /** Claims made when the latest look was asked for: a later one makes it needless. */
  private claimsWhenAsked = 0;

  constructor(clock: Clock, wake: () => void) {
    this.clock = clock;
    this.wake = wake;
  }

  /** A claim is being made: it sees all the room there is now. */
  claimed(): void {
    this.claims++;
  }

  /** Looks again in a moment, unless a claim comes first. */
  schedule(): void {
    this.claimsWhenAsked = this.claims;
    if (this.timer !== null) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      if (this.claims === this.claimsWhenAsked) this.wake();
    }, SHORT_CLAIM_RECHECK_MS);
  }

  cancel(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }
}
