import { ValidationError } from '../../errors.ts';
import type { ScheduleRecord } from '../records.ts';

const REQUIRED_TIMES = ['createdAt', 'updatedAt'] as const;
const OPTIONAL_TIMES = ['nextFireTime', 'lastFireTime', 'acquiredUntil'] as const;

/**
 * The schedule an `addSchedule` given `{ tx }` read back, as Kairos reads its own. On the
 * application's transaction its statements answer through whatever the application set up:
 * global `pg` type parsers (a timestamp as text or a number: read as the time it is), or an ORM's
 * hook or extension that renames or drops result columns (a Prisma query extension, a Knex
 * `postProcessResponse` that leaves no field names): then the schedule cannot be read, and that is
 * an error that says so. (The schedule's events tell other nodes when it is due.)
 */
export function scheduleReadOnTx(schedule: ScheduleRecord, expectedId: string, tx: unknown): ScheduleRecord {
  const unreadable = (what: string) =>
    new ValidationError(
      'tx',
      tx,
      `answered Kairos's statement with a row it cannot read (${what}): an ORM hook or extension that renames or converts result columns (a Prisma query extension, a Knex postProcessResponse) runs on Kairos's statements too; the statement did run, so roll the transaction back, and give Kairos a handle without it`,
    );
  if (schedule.id !== expectedId) throw unreadable(`its id is ${JSON.stringify(schedule.id)}`);
  const read: ScheduleRecord = { ...schedule };
  for (const key of [...REQUIRED_TIMES, ...OPTIONAL_TIMES]) {
    const value: unknown = schedule[key];
    if (value === null && !(REQUIRED_TIMES as readonly string[]).includes(key)) continue;
    const time =
      value instanceof Date ? value : typeof value === 'string' || typeof value === 'number' ? new Date(value) : null;
    if (time === null || Number.isNaN(time.getTime())) throw unreadable(`${key} is ${String(value)}`);
    (read as unknown as Record<string, unknown>)[key] = time;
  }
  return read;
}
