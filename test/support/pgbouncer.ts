import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Whether this machine has PgBouncer (`.ci/run` installs Debian's package). */
export const hasPgBouncer = spawnSync('pgbouncer', ['--version']).status === 0;

/**
 * A real PgBouncer in transaction mode in front of the machine's PostgreSQL, as production fleets
 * run one: every transaction may land on another server connection. `server_round_robin` hands
 * them out in turn rather than reusing the last one, so a session-level state (an advisory lock, a
 * LISTEN, a SET) is found out at once instead of by chance.
 */
export class PgBouncer {
  readonly port: number;
  private readonly dir: string;
  private readonly process: ChildProcess;
  private output = '';

  private constructor(port: number, dir: string, child: ChildProcess) {
    this.port = port;
    this.dir = dir;
    this.process = child;
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  /**
   * Starts one for database `test` (user `postgres`, trust auth) with `poolSize` server connections.
   * `connectQuery` runs on each server connection it opens (where a fleet behind PgBouncer sets
   * what PgBouncer will not pass on from clients, such as `statement_timeout`).
   */
  static async start(poolSize = 4, connectQuery: string | null = null): Promise<PgBouncer> {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-pgbouncer-'));
    chmodSync(dir, 0o755); // PgBouncer refuses to run as root: it runs as postgres, which must read these
    const port = await freePort();
    const settings: Record<string, string> = {
      listen_addr: '127.0.0.1',
      listen_port: String(port),
      unix_socket_dir: '',
      auth_type: 'trust',
      auth_file: join(dir, 'users.txt'),
      pool_mode: 'transaction',
      default_pool_size: String(poolSize),
      server_round_robin: '1',
      max_client_conn: '200',
      admin_users: 'postgres', // for `transactionsServed`
    };
    writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `test = host=127.0.0.1 port=5432 dbname=test user=postgres${connectQuery === null ? '' : ` connect_query='${connectQuery}'`}`,
        '[pgbouncer]',
        ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
      ].join('\n') + '\n',
    );
    const child = spawn('pgbouncer', ['-u', 'postgres', join(dir, 'pgbouncer.ini')], { stdio: 'pipe' });
    const bouncer = new PgBouncer(port, dir, child);
    await bouncer.untilListening();
    return bouncer;
  }

  get connectionString(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/test`;
  }

  /** Transactions it has passed on to database `test` (from its admin console's SHOW STATS). */
  async transactionsServed(): Promise<number> {
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${this.port}/pgbouncer` });
    await admin.connect();
    try {
      // The admin console speaks the simple protocol only.
      const { rows } = await admin.query<{ database: string; total_xact_count: string }>({
        text: 'SHOW STATS',
        queryMode: 'simple',
      } as never);
      return Number(rows.find((row) => row.database === 'test')?.total_xact_count ?? 0);
    } finally {
      await admin.end();
    }
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null) {
      const exited = new Promise((resolve) => this.process.once('exit', resolve));
      this.process.kill('SIGINT');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async untilListening(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) throw new Error(`pgbouncer exited: ${this.output}`);
      if (await accepts(this.port)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`pgbouncer did not listen on ${this.port} within 10 s: ${this.output}`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
