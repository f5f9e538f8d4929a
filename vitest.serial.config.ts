import { defineConfig } from 'vitest/config';

// Tests that stop or restart the shared PostgreSQL server: one file at a time, nothing beside them.
export default defineConfig({
  resolve: { conditions: ['kairos-source'] },
  test: {
    include: ['test/**/*.serial.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 120_000,
  },
});
