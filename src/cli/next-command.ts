import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { KairosError, TriggerError } from '../errors.ts';
import { formatInstant, isoDateToInstant, parseIsoDate } from '../time/iso-date.ts';
import { getTimeZone, localTimeZoneName } from '../time/time-zone.ts';
import { cron } from '../triggers/cron-trigger.ts';
import { fireTimes } from '../triggers/fire-times.ts';
import type { Trigger } from '../triggers/trigger.ts';
import { triggerFromJSON } from '../triggers/trigger-from-json.ts';
import { type CliCommand, type CliIo, ExitCode } from './cli-command.ts';

const HELP = `Usage: kairos next TRIGGER [--from ISO] [-n N] [--timezone TZ]
       kairos next --jsonl [--timezone TZ] < requests.jsonl

Prints the next N fire times of TRIGGER at or after --from, one ISO-8601 instant per line,
with the UTC offset of the trigger's zone (e.g. 2027-03-28T03:00:00+02:00).

  TRIGGER          a trigger's JSON ('{"type":"interval","minutes":5}') or a cron expression
                   ('0 9 * * mon-fri'); quote it as one argument
  --from ISO       start time (default: now); without an offset it is wall-clock time in the
                   trigger's zone
  -n, --count N    how many fire times (default: 5)
  --timezone TZ    zone for triggers that have none (default: this machine's zone)
  --jsonl          read requests from stdin, one JSON per line:
                     {"trigger": {...} or "cron expression", "from": "...", "n": 8, "timezone": "..."}
                   and write one line per request, in order: {"times": [...]} or {"error": "..."}

Exit codes: 0 ok, 2 bad usage or invalid trigger (message on stderr).
`;

const DEFAULT_COUNT = 5;
const MAX_COUNT = 10_000;

export const nextCommand: CliCommand = {
  name: 'next',
  summary: 'print the next fire times of a trigger (JSON or cron expression)',
  run: runNext,
};

async function runNext(args: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(args);
  } catch (error) {
    io.stderr.write(`kairos next: ${messageOf(error)}\n\n${HELP}`);
    return ExitCode.usage;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  try {
    if (values.timezone !== undefined) getTimeZone(values.timezone, '--timezone');
    if (values.jsonl) {
      if (positionals.length > 0 || values.from !== undefined || values.count !== undefined) {
        throw new UsageError('--jsonl takes its triggers, --from and n from stdin');
      }
      await runJsonLines(io, values.timezone);
      return ExitCode.ok;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0
          ? 'missing TRIGGER'
          : `expected one TRIGGER argument, got ${positionals.length} (quote cron expressions: '0 9 * * mon-fri')`,
      );
    }
    const count = values.count === undefined ? DEFAULT_COUNT : parseCount(values.count);
    const lines = nextTimes(positionals[0], values.from, count, values.timezone);
    io.stdout.write(lines.length > 0 ? `${lines.join('\n')}\n` : '');
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof UsageError || error instanceof KairosError) {
      io.stderr.write(`kairos next: ${error.message}\n`);
      return ExitCode.usage;
    }
    throw error;
  }
}

function parseOptions(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      count: { type: 'string', short: 'n' },
      timezone: { type: 'string' },
      jsonl: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

class UsageError extends Error {}

/**
 * Reads requests line by line as they arrive (stdin is never buffered whole) and writes the
 * answers in batches, waiting when stdout is full, so thousands of lines stream through.
 */
async function runJsonLines(io: CliIo, timezone: string | undefined): Promise<void> {
  const lines = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  let batch = '';
  for await (const line of lines) {
    if (line.trim() === '') continue;
    batch += `${answer(line, timezone)}\n`;
    if (batch.length >= 64 * 1024) {
      const flushed = io.stdout.write(batch);
      batch = '';
      if (!flushed) await once(io.stdout, 'drain');
    }
  }
  if (batch !== '') io.stdout.write(batch);
}

/** One request line to one answer line; a bad line is answered with its error, never thrown. */
function answer(line: string, timezone: string | undefined): string {
  try {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`invalid JSON: ${messageOf(error)}`);
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      throw new UsageError('each line must be a JSON object with a "trigger"');
    }
    const { trigger, from, n, timezone: lineZone } = request as Record<string, unknown>;
    if (trigger === undefined) throw new UsageError('missing "trigger"');
    if (from !== undefined && typeof from !== 'string') {
      throw new UsageError('"from" must be an ISO-8601 string');
    }
    if (lineZone !== undefined && typeof lineZone !== 'string') {
      throw new UsageError('"timezone" must be a string');
    }
    if (n !== undefined && (!Number.isInteger(n) || (n as number) < 0 || (n as number) > MAX_COUNT)) {
      throw new UsageError(`"n" must be an integer from 0 to ${MAX_COUNT}`);
    }
    const count = n === undefined ? DEFAULT_COUNT : (n as number);
    return JSON.stringify({ times: nextTimes(trigger, from, count, lineZone ?? timezone) });
  } catch (error) {
    return JSON.stringify({ error: messageOf(error) });
  }
}

/** The formatted next fire times of a trigger given as JSON text, a JSON value or a cron expression. */
function nextTimes(
  input: unknown,
  fromText: string | undefined,
  count: number,
  timezone: string | undefined,
): string[] {
  const defaultZone = timezone ?? localTimeZoneName();
  const trigger = readTrigger(input).withDefaultTimezone(defaultZone);
  const zone = getTimeZone(displayZoneName(trigger) ?? defaultZone);
  let from = Date.now();
  if (fromText !== undefined) {
    const parsed = parseIsoDate(fromText);
    if (parsed === null) {
      throw new UsageError(`--from: ${JSON.stringify(fromText)} is not an ISO-8601 date`);
    }
    from = isoDateToInstant(parsed, zone);
  }
  return fireTimes(trigger, new Date(from), count).map((time) => formatInstant(time.getTime(), zone));
}

function readTrigger(input: unknown): Trigger {
  if (typeof input === 'string') {
    const text = input.trim();
    if (!text.startsWith('{')) return cron(text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new TriggerError('trigger', input, `is not valid JSON (${messageOf(error)})`);
    }
    return triggerFromJSON(json);
  }
  return triggerFromJSON(input);
}

/** The zone whose offsets the output shows: the trigger's, or for and/or the first child's. */
function displayZoneName(trigger: Trigger): string | undefined {
  const json = trigger.toJSON() as { timezone?: unknown; triggers?: unknown };
  if (typeof json.timezone === 'string') return json.timezone;
  if ('triggers' in trigger && Array.isArray(trigger.triggers)) {
    for (const child of trigger.triggers as Trigger[]) {
      const name = displayZoneName(child);
      if (name !== undefined) return name;
    }
  }
  return undefined;
}

function parseCount(text: string): number {
  const count = /^[0-9]{1,6}$/.test(text) ? Number(text) : Number.NaN;
  if (!(count <= MAX_COUNT)) {
    throw new UsageError(`-n: ${JSON.stringify(text)} must be an integer from 0 to ${MAX_COUNT}`);
  }
  return count;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
