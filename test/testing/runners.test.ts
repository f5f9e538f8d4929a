import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { cron } from '../../src/index.ts';
import { createTestScheduler } from '../../src/testing/index.ts';
import { expected, runScenario } from './runners/schedule-scenario.mjs';

const root = new URL('../../', import.meta.url).pathname;

describe('the test scheduler under every test runner', () => {
  it('works under vitest, even with fake timers on', async () => {
    vi.useFakeTimers();
    try {
      expect(await runScenario({ createTestScheduler, cron })).toEqual(expected);
    } finally {
      vi.useRealTimers();
    }
  });

  it('works under node:test', () => {
    const output = execFileSync(
      process.execPath,
      ['--conditions=kairos-source', '--test', '--test-reporter=spec', 'test/testing/runners/node-test.fixture.mjs'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(output).toMatch(/✔ advances a virtual day under node:test/);
    expect(output).toMatch(/pass 1/);
  });

  it('works under jest (on the built package)', () => {
    // `npm test` builds first (pretest); jest loads dist/ because it cannot load our TypeScript sources.
    expect(existsSync(`${root}dist/testing/index.js`), 'dist/ is missing: run npm run build').toBe(true);
    const jest = `${root}node_modules/jest/bin/jest.js`;
    // jest writes its report to stderr; a failing test makes it exit non-zero, which throws here.
    const result = spawnSync(
      process.execPath,
      [
        jest,
        '--rootDir',
        root,
        '--testMatch',
        '**/test/testing/runners/jest.fixture.test.mjs',
        '--ci',
        '--colors=false',
      ],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules --no-warnings' } },
    );
    expect(result.stderr).toMatch(/✓ advances a virtual day under jest/);
    expect(result.stderr).toMatch(/Tests:\s+1 passed, 1 total/);
    expect(result.status).toBe(0);
  });
});
