/**
 * A loopback TCP proxy that a test can cut and restore, to take a database away from a running process
 * without touching the database server itself.
 */

export interface TcpProxy {
  port: number;
  /** Cuts every open connection and refuses new ones until `restore()`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export function startTcpProxy(target: { hostname: string; port: number }): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let cut = false;
  const pipes: Promise<void>[] = [];

  function closeQuietly(conn: Deno.Conn): void {
    open.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  }

  async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch { /* a side went away */ }
    closeQuietly(from);
    closeQuietly(to);
  }

  const accepting = (async () => {
    for await (const client of listener) {
      if (cut) {
        closeQuietly(client);
        continue;
      }
      try {
        const upstream = await Deno.connect({ hostname: target.hostname, port: target.port });
        open.add(client);
        open.add(upstream);
        pipes.push(pipe(client, upstream), pipe(upstream, client));
      } catch {
        closeQuietly(client);
      }
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    cut(): void {
      cut = true;
      for (const conn of [...open]) closeQuietly(conn);
    },
    restore(): void {
      cut = false;
    },
    async close(): Promise<void> {
      cut = true;
      for (const conn of [...open]) closeQuietly(conn);
      listener.close();
      await accepting.catch(() => {});
      await Promise.allSettled(pipes);
    },
  };
}
