import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory for one test file's databases, removed by `cleanup()`. */
export function tempDatabases(label: string): { path(name: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `kairos-${label}-`));
  return {
    path: (name) => join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
