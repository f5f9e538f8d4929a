import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (`node --conditions=kairos-source src/cli/main.ts ...`) in a fixed zone. */
function kairos(args: string[], input?: string, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=kairos-source', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, TZ: 'Europe/Berlin', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

describe('kairos next', () => {
  it('prints the next fire times of a cron expression in the local zone', async () => {
    const result = await kairos(['next', '0 9 * * mon-fri', '-n', '3', '--from', '2027-03-25T00:00:00Z']);
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout: '2027-03-25T09:00:00+01:00\n2027-03-26T09:00:00+01:00\n2027-03-29T09:00:00+02:00\n',
    });
  });

  it('takes a trigger JSON, defaults to 5 times, and shows the DST rule', async () => {
    const trigger = JSON.stringify({
      type: 'cron',
      expression: '30 2 * * *',
      timezone: 'Europe/Berlin',
    });
    const result = await kairos(['next', trigger, '--from', '2027-03-26T00:00:00+01:00']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([
      '2027-03-26T02:30:00+01:00',
      '2027-03-27T02:30:00+01:00',
      '2027-03-28T03:00:00+02:00',
      '2027-03-29T02:30:00+02:00',
      '2027-03-30T02:30:00+02:00',
    ]);
  });

  it('uses --timezone for zoneless triggers and --from without offset', async () => {
    const result = await kairos([
      'next',
      '0 0 * * *',
      '--timezone',
      'Asia/Kathmandu',
      '--from',
      '2027-01-01T00:00',
      '-n',
      '2',
    ]);
    expect(result.stdout).toBe('2027-01-01T00:00:00+05:45\n2027-01-02T00:00:00+05:45\n');
  });

  it('prints milliseconds only when they are not zero', async () => {
    const trigger = JSON.stringify({ type: 'interval', milliseconds: 1500, timezone: 'UTC' });
    const result = await kairos(['next', trigger, '--from', '2027-01-01T00:00:00Z', '-n', '3']);
    expect(result.stdout).toBe('2027-01-01T00:00:00+00:00\n2027-01-01T00:00:01.500+00:00\n2027-01-01T00:00:03+00:00\n');
  });

  it('prints fewer lines when the trigger ends', async () => {
    const trigger = JSON.stringify({ type: 'date', runDate: '2027-01-01T00:00:00Z' });
    const result = await kairos(['next', trigger, '--from', '2026-01-01T00:00:00Z']);
    expect(result).toEqual({ code: 0, stderr: '', stdout: '2027-01-01T01:00:00+01:00\n' });
  });

  it.each([
    [['next', '0 25 * * *'], /cron field "hour": 25 is out of range 0-23/],
    [['next', '{"type":"interval"'], /is not valid JSON/],
    [['next', '{"type":"interval","minutes":5}', '--timezone', 'Mars/Base'], /--timezone: "Mars\/Base" is not an IANA/],
    [['next'], /missing TRIGGER/],
    [['next', '0', '9', '*', '*', '*'], /expected one TRIGGER argument/],
    [['next', '* * * * *', '-n', 'many'], /-n: "many" must be an integer/],
    [['next', '* * * * *', '--from', 'yesterday'], /--from: "yesterday" is not an ISO-8601 date/],
    [['next', '* * * * *', '--bogus'], /Unknown option '--bogus'/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ])('exits 2 with a message for %j', async (args, message) => {
    const result = await kairos(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });

  it('shows help', async () => {
    expect((await kairos(['next', '--help'])).stdout).toMatch(/^Usage: kairos next TRIGGER/);
    expect((await kairos(['--help'])).stdout).toMatch(/next +print the next fire times/);
  });
});

describe('kairos next --jsonl', () => {
  it('answers every line in order, a bad line with its error', async () => {
    const input = [
      JSON.stringify({
        trigger: '*/15 * * * *',
        from: '2027-01-01T00:00:00Z',
        n: 2,
        timezone: 'UTC',
      }),
      'not json',
      JSON.stringify({ trigger: { type: 'cron', hour: 25 } }),
      '',
      JSON.stringify({
        trigger: { type: 'date', runDate: '2027-01-01T00:00:00Z' },
        from: '2027-01-01T00:00:00Z',
        n: 3,
      }),
      JSON.stringify({
        trigger: { type: 'date', runDate: '2027-01-01T00:00:00Z' },
        from: '2028-01-01T00:00:00Z',
      }),
      JSON.stringify({ from: '2027-01-01T00:00:00Z' }),
      JSON.stringify({
        trigger: '0 0 * * *',
        from: '2027-03-28T00:00',
        n: 1,
        timezone: 'Pacific/Chatham',
      }),
    ].join('\n');
    const result = await kairos(['next', '--jsonl'], `${input}\n`);
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      { times: ['2027-01-01T00:00:00+00:00', '2027-01-01T00:15:00+00:00'] },
      { error: expect.stringMatching(/^invalid JSON/) },
      { error: 'cron field "hour": 25 is out of range 0-23' },
      { times: ['2027-01-01T01:00:00+01:00'] },
      { times: [] },
      { error: 'missing "trigger"' },
      { times: ['2027-03-28T00:00:00+13:45'] },
    ]);
  });

  it('streams thousands of lines', async () => {
    const count = 5000;
    const line = JSON.stringify({
      trigger: { type: 'cron', expression: '0 9 * * mon-fri', timezone: 'America/New_York' },
      from: '2027-01-01T00:00:00Z',
      n: 8,
    });
    const result = await kairos(['next', '--jsonl'], `${`${line}\n`.repeat(count)}`);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(count);
    expect(JSON.parse(lines[count - 1] as string).times).toHaveLength(8);
  });
});
