import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['kairos-source'] },
  test: {
    include: ['test/**/*.test.ts'],
    // Store and multi-process tests share real files and servers; keep file-level parallelism modest on a 2-core machine.
    maxWorkers: 2,
    testTimeout: 30_000,
  },
});
