import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Runs one benchmark scenario in its own Node process (fresh heap, no JIT state from others). */
export function runScenario(file: string, args: string[] = []): unknown {
  const output = execFileSync(process.execPath, ['--conditions=kairos-source', '--expose-gc', file, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lastLine = output.trim().split('\n').at(-1) ?? '';
  return JSON.parse(lastLine);
}

export function machine() {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Prints the report and writes it to bench/results/<name>-<date>.json. */
export function writeReport(name: string, report: object): string {
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(resultsDir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const path = join(resultsDir, `${name}-${date}.json`);
  const text = JSON.stringify(
    { benchmark: name, date: new Date().toISOString(), machine: machine(), ...report },
    null,
    2,
  );
  writeFileSync(path, `${text}\n`);
  console.log(text);
  return path;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

/** High-resolution wall-clock time in epoch milliseconds. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();
