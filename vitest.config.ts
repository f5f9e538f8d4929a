import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['kairos-source'] },
  test: {
    include: ['test/**/*.test.ts'],
    // *.serial.test.ts restart the shared PostgreSQL server: they run alone, after the rest
    // (vitest.serial.config.ts), so no other test file loses its connections.
    exclude: ['test/**/*.serial.test.ts', 'node_modules/**'],
    // Store and multi-process tests share real files and servers; keep file-level parallelism modest on a 2-core machine.
    maxWorkers: 2,
    testTimeout: 30_000,
  },
});
