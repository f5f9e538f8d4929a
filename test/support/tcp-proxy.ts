import net from 'node:net';

/**
 * A TCP proxy in front of the real PostgreSQL server, to make the network fail the way it does in
 * production: `silence()` makes every open connection go quiet, neither delivering nor closing (a
 * failover that leaves the old sockets open, a NAT or firewall that forgets them); connections made
 * afterwards work, as they would to the new primary.
 */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly open = new Set<{ client: net.Socket; upstream: net.Socket; silent: boolean }>();
  /** New connections pass their first message (the start-up) and nothing after it. */
  private cutAfterStartup = false;
  port = 0;

  constructor(targetHost: string, targetPort: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(targetPort, targetHost);
      const link = { client, upstream, silent: false };
      this.open.add(link);
      const cut = this.cutAfterStartup;
      let sent = 0;
      client.on('data', (chunk) => {
        if (link.silent || (cut && sent > 0)) return;
        sent++;
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!link.silent) client.write(chunk);
      });
      const close = () => {
        this.open.delete(link);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', () => {
        if (!link.silent) close();
      });
      upstream.on('close', () => {
        if (!link.silent) close();
      });
      client.on('error', () => {});
      upstream.on('error', () => {});
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return `postgres://postgres@127.0.0.1:${this.port}/test`;
  }

  /** Every connection open now goes quiet for good; new connections work. */
  silence(): number {
    let count = 0;
    for (const link of this.open) {
      if (!link.silent) count++;
      link.silent = true;
      // Nothing is read any more, not even a goodbye: a peer that closes waits for an answer.
      link.client.pause();
      link.upstream.pause();
    }
    return count;
  }

  /**
   * Connections made from now on connect, then go silent: the server never sees their first
   * query (until `restore()`).
   */
  silenceAfterStartup(): void {
    this.cutAfterStartup = true;
  }

  /** New connections work again. */
  restore(): void {
    this.cutAfterStartup = false;
  }

  /** Connections open, silenced ones too. */
  get openConnections(): number {
    return this.open.size;
  }

  /** Connections open (and not silenced). */
  get liveConnections(): number {
    return [...this.open].filter((link) => !link.silent).length;
  }

  async stop(): Promise<void> {
    for (const link of this.open) {
      link.client.destroy();
      link.upstream.destroy();
    }
    this.open.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
