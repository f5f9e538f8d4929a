import { fileURLToPath } from 'node:url';
import { Cron } from 'croner';
import { localTimeZoneName } from '../../src/time/time-zone.ts';
import { cron } from '../../src/triggers/index.ts';

/**
 * Next-fire computations per second of Kairos's cron engine and croner's, side by side in one
 * process, on the same expressions and zones. Each side walks a chain of fire times
 * (`t = next(t)`) from 2027-01-01, restarting the chain every CHAIN_LENGTH steps so both keep
 * working on the same stretch of calendar. Rounds alternate which side goes first (so neither
 * always runs on a warmer or colder CPU), and the median round is reported.
 */
const CASES: ReadonlyArray<{ expression: string; timezone: string | undefined }> = [
  { expression: '*/5 * * * *', timezone: 'Europe/Berlin' },
  { expression: '0 9 * * mon-fri', timezone: 'America/New_York' },
  { expression: '0 0 0 L * *', timezone: 'Australia/Sydney' },
  // No zone: croner then uses the process's local time through plain Date methods, its fastest
  // path; Kairos uses the process's zone the same way it uses any other.
  { expression: '*/5 * * * *', timezone: undefined },
  { expression: '0 9 * * mon-fri', timezone: undefined },
  { expression: '0 0 0 L * *', timezone: undefined },
];

const START = Date.UTC(2027, 0, 1);
const CHAIN_LENGTH = 500;
const ROUNDS = 7;
const ROUND_MS = 150;
const WARMUP_MS = 300;

export interface CronThroughput {
  expressions: Array<{
    expression: string;
    timezone: string;
    kairosPerSec: number;
    cronerPerSec: number;
    /** kairosPerSec / cronerPerSec: above 1 means Kairos is faster. */
    ratio: number;
  }>;
}

type NextFn = (after: Date) => Date | null;

export async function measureCronThroughput(): Promise<CronThroughput> {
  const expressions: CronThroughput['expressions'] = [];
  for (const { expression, timezone } of CASES) {
    const trigger = timezone === undefined ? cron(expression) : cron(expression, { timezone });
    const croner = timezone === undefined ? new Cron(expression) : new Cron(expression, { timezone });
    const kairosNext: NextFn = (after) => trigger.next(after);
    const cronerNext: NextFn = (after) => croner.nextRun(after);
    rate(kairosNext, WARMUP_MS);
    rate(cronerNext, WARMUP_MS);
    const kairosRates: number[] = [];
    const cronerRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        kairosRates.push(rate(kairosNext, ROUND_MS));
        cronerRates.push(rate(cronerNext, ROUND_MS));
      } else {
        cronerRates.push(rate(cronerNext, ROUND_MS));
        kairosRates.push(rate(kairosNext, ROUND_MS));
      }
      // Let timers and GC run between rounds rather than inside one.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const kairosPerSec = Math.round(median(kairosRates));
    const cronerPerSec = Math.round(median(cronerRates));
    expressions.push({
      expression,
      timezone: timezone ?? `${localTimeZoneName()} (process zone, no option)`,
      kairosPerSec,
      cronerPerSec,
      ratio: Math.round((kairosPerSec / cronerPerSec) * 100) / 100,
    });
  }
  return { expressions };
}

/** Next-fire computations per second over about `budgetMs`. */
function rate(next: NextFn, budgetMs: number): number {
  let count = 0;
  let after = new Date(START);
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    for (let step = 0; step < CHAIN_LENGTH; step++) {
      const fire = next(after);
      if (fire === null) throw new Error('a benchmark expression stopped firing');
      after = fire;
    }
    count += CHAIN_LENGTH;
    after = new Date(START);
    elapsed = performance.now() - started;
  }
  return (count / elapsed) * 1000;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.table((await measureCronThroughput()).expressions);
}
