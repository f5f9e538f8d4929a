// Generates the Prisma client of prisma-schema.prisma (into node_modules/.kairos-test-prisma, out
// of the tree) and loads it. Prisma 7's client runs on a driver adapter (@prisma/adapter-pg) and
// its WebAssembly query compiler, both inside registry packages, so it needs no engine binary.
//
// `prisma generate` itself never runs the schema engine either, but the CLI insists on having one
// first and downloads it from Prisma's binary host, which this machine (and CI) cannot reach:
//   Error: request to https://binaries.prisma.sh/.../schema-engine.gz.sha256 failed,
//   reason: getaddrinfo ENOTFOUND binaries.prisma.sh
// So, unless PRISMA_SCHEMA_ENGINE_BINARY is already set, it is pointed at a stub that only says it
// is not available (generation does not call it; migrations would, and the test uses none).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCHEMA = fileURLToPath(new URL('prisma-schema.prisma', import.meta.url));
const OUTPUT = join(ROOT, 'node_modules', '.kairos-test-prisma');

/** The generated client, as much of it as the test uses. */
export interface TestPrismaClient {
  $transaction<T>(work: (tx: TestPrismaTransaction) => Promise<T>, options?: { timeout?: number }): Promise<T>;
  $disconnect(): Promise<void>;
}

export interface TestPrismaTransaction {
  dataset: { create(args: { data: { id: string; rows: number } }): Promise<unknown> };
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

export type TestPrismaClientClass = new (options: { adapter: unknown }) => TestPrismaClient;

export async function generatePrismaClient(): Promise<TestPrismaClientClass> {
  const stubDir = mkdtempSync(join(tmpdir(), 'kairos-prisma-'));
  try {
    const stub = join(stubDir, 'schema-engine');
    writeFileSync(stub, '#!/bin/sh\necho "schema engine not available offline" >&2\nexit 1\n');
    chmodSync(stub, 0o755);
    const cli = createRequire(import.meta.url).resolve('prisma/build/index.js');
    execFileSync(process.execPath, [cli, 'generate', '--schema', SCHEMA], {
      cwd: ROOT,
      stdio: 'pipe',
      env: {
        ...process.env,
        PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? stub,
        CHECKPOINT_DISABLE: '1',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
      },
    });
  } finally {
    rmSync(stubDir, { recursive: true, force: true });
  }
  const generated = (await import(pathToFileURL(join(OUTPUT, 'index.js')).href)) as {
    PrismaClient?: TestPrismaClientClass;
    default?: { PrismaClient: TestPrismaClientClass };
  };
  const PrismaClient = generated.PrismaClient ?? generated.default?.PrismaClient;
  if (PrismaClient === undefined) throw new Error(`no PrismaClient in ${OUTPUT}`);
  return PrismaClient;
}
