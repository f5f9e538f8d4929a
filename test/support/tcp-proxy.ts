import net from 'node:net';

interface ReplyToLose {
  markers: string[];
  lost: () => void;
}

interface Link {
  client: net.Socket;
  upstream: net.Socket;
  silent: boolean;
  /** The answer being kept back, if this connection is to lose one. */
  losing: (ReplyToLose & { answer: Buffer[] }) | null;
}

/** Whether `bytes` end with the server's ReadyForQuery message ('Z', length 5, a status byte). */
function endsWithReadyForQuery(bytes: Buffer): boolean {
  const at = bytes.length - 6;
  return at >= 0 && bytes[at] === 0x5a && bytes.readInt32BE(at + 1) === 5;
}

/**
 * A TCP proxy in front of the real PostgreSQL server, to make the network fail the way it does in
 * production: `silence()` makes every open connection go quiet, neither delivering nor closing (a
 * failover that leaves the old sockets open, a NAT or firewall that forgets them); connections made
 * afterwards work, as they would to the new primary. `loseReplyTo()` breaks a connection after the
 * server carried out a statement, before its answer arrives.
 */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly open = new Set<Link>();
  /** The reply to lose (see `loseReplyTo`), until a message holding its markers comes. */
  private replyToLose: ReplyToLose | null = null;
  /** New connections pass their first message (the start-up) and nothing after it. */
  private cutAfterStartup = false;
  port = 0;

  constructor(targetHost: string, targetPort: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(targetPort, targetHost);
      const link: Link = { client, upstream, silent: false, losing: null };
      this.open.add(link);
      const cut = this.cutAfterStartup;
      let sent = 0;
      client.on('data', (chunk) => {
        if (link.silent || (cut && sent > 0)) return;
        sent++;
        const text = chunk.toString('latin1');
        if (this.replyToLose?.markers.every((marker) => text.includes(marker))) {
          link.losing = { ...this.replyToLose, answer: [] };
          this.replyToLose = null;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (link.silent) return;
        const losing = link.losing;
        if (losing === null) {
          client.write(chunk);
          return;
        }
        // Kept back until the server has answered in full, so it has committed: then the connection breaks.
        losing.answer.push(chunk);
        if (!endsWithReadyForQuery(Buffer.concat(losing.answer))) return;
        close();
        losing.lost();
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

  /**
   * The next message a client sends that holds every one of `markers` (texts of its SQL or its
   * parameters) reaches the server, which carries it out; its answer never comes back: the
   * connection breaks once the server has sent all of it (up to ReadyForQuery, so a statement
   * outside a transaction has committed). Resolves once that happened.
   */
  loseReplyTo(...markers: string[]): Promise<void> {
    return new Promise((lost) => {
      this.replyToLose = { markers, lost };
    });
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

  /** The silenced connections break at last (a firewall that resets them): their peers see them closed. */
  breakSilenced(): void {
    for (const link of this.open) {
      if (!link.silent) continue;
      link.client.destroy();
      link.upstream.destroy();
      this.open.delete(link);
    }
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
