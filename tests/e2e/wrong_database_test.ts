/**
 * Operator safety (issue 11, item 1): whatever DATABASE_URL points at, the CLI and the daemon never hang.
 * `db health` exits 69 within seconds with a message that says what is there instead of PostgreSQL; the
 * daemon serves /healthz (503, with the reason) while it waits for its database, and stops within seconds of
 * SIGTERM or SIGINT. Each kind of wrong endpoint is a small server in this process, on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { type CliResult, freePort, spawnCli, waitFor } from "../helpers/cli.ts";
import { isolatedCliEnv as isolatedEnv, runCliWithin as runCli } from "../helpers/isolated_cli.ts";

const PASSWORD = "kms-WRONGDB-5e6f7a8b";

/** A wrong endpoint: a TCP server on 127.0.0.1 that does one thing with every connection. */
interface WrongServer {
  port: number;
  close(): Promise<void>;
}

function startRawServer(onConnection: (connection: Deno.Conn) => Promise<void>): WrongServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const connection of listener) {
      open.add(connection);
      onConnection(connection).catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      for (const connection of open) {
        try {
          connection.close();
        } catch { /* closed already */ }
      }
      await accepting;
    },
  };
}

/** Accepts and never says anything. */
function startSilentListener(): WrongServer {
  return startRawServer(() => Promise.resolve());
}

/** Accepts and hangs up at once. */
function startClosingServer(): WrongServer {
  return startRawServer((connection) => {
    connection.close();
    return Promise.resolve();
  });
}

/** Greets first, as NATS does. */
function startNatsLikeServer(): WrongServer {
  return startRawServer(async (connection) => {
    await connection.write(
      new TextEncoder().encode(
        'INFO {"server_id":"fake","version":"2.10.0","max_payload":1048576}\r\n',
      ),
    );
  });
}

/** A real HTTP server (Deno.serve). */
function startHttpServer(): WrongServer {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("hello\n"),
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}

function databaseUrl(port: number): string {
  return `postgres://kick:${PASSWORD}@127.0.0.1:${port}/kick`;
}

async function dbHealth(port: number): Promise<{ result: CliResult; elapsedMs: number }> {
  const { dir, env } = await isolatedEnv({ DATABASE_URL: databaseUrl(port) });
  try {
    const started = performance.now();
    const result = await runCli(["db", "health"], env);
    return { result, elapsedMs: performance.now() - started };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertClearFailure(
  { result, elapsedMs }: { result: CliResult; elapsedMs: number },
  port: number,
  expected: RegExp,
  withinMs: number,
): void {
  assert.equal(result.code, 69, result.stderr);
  assert.match(result.stderr, new RegExp(`DATABASE_URL \\(127\\.0\\.0\\.1:${port}\\)`));
  assert.match(result.stderr, expected);
  assert.ok(!result.stderr.includes(PASSWORD), "the password is not printed");
  assert.ok(!/kick:/.test(result.stderr), "the user is not printed");
  assert.equal(result.stdout, "");
  assert.ok(elapsedMs < withinMs, `took ${elapsedMs.toFixed(0)} ms`);
}

const SERVER_TEST = { sanitizeResources: false, sanitizeOps: false };

/** Each kind of wrong endpoint, what `db health` must say about it, and how fast. */
const WRONG_ENDPOINTS: {
  kind: string;
  start: () => WrongServer;
  says: RegExp;
  withinMs: number;
}[] = [
  {
    kind: "a closed port",
    start: () => ({ port: freePort(), close: () => Promise.resolve() }),
    says: /connection refused, nothing listens there/,
    withinMs: 5_000,
  },
  {
    kind: "a silent listener",
    start: startSilentListener,
    says: /accepted the connection but did not answer the PostgreSQL handshake/,
    withinMs: 10_000,
  },
  {
    kind: "an HTTP server",
    start: startHttpServer,
    says: /is not a PostgreSQL server \(it answered like HTTP\)/,
    withinMs: 5_000,
  },
  {
    kind: "a server that closes at once",
    start: startClosingServer,
    says: /closed the connection without answering the PostgreSQL handshake/,
    withinMs: 5_000,
  },
  {
    kind: "a server that greets first (NATS)",
    start: startNatsLikeServer,
    says: /is not a PostgreSQL server \(it answered like NATS\)/,
    withinMs: 5_000,
  },
];

for (const endpoint of WRONG_ENDPOINTS) {
  Deno.test({
    name: `db health: ${endpoint.kind} exits 69 within ${
      endpoint.withinMs / 1000
    } s, saying what is there`,
    ...SERVER_TEST,
    async fn() {
      const server = endpoint.start();
      try {
        assertClearFailure(
          await dbHealth(server.port),
          server.port,
          endpoint.says,
          endpoint.withinMs,
        );
      } finally {
        await server.close();
      }
    },
  });
}

Deno.test({
  name: "doctor: an HTTP server as DATABASE_URL fails the database line quickly, with the reason",
  ...SERVER_TEST,
  async fn() {
    const server = startHttpServer();
    const { dir, env } = await isolatedEnv({ DATABASE_URL: databaseUrl(server.port) });
    try {
      const started = performance.now();
      const result = await runCli(["doctor", "--json"], env);
      const elapsed = performance.now() - started;
      assert.notEqual(result.code, 0);
      assert.match(result.stdout, /it answered like HTTP/);
      assert.ok(!result.stdout.includes(PASSWORD) && !result.stderr.includes(PASSWORD));
      assert.ok(elapsed < 30_000, `took ${elapsed.toFixed(0)} ms`);
    } finally {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Polls /healthz until `ready` accepts its answer; returns the status and JSON body. */
async function healthz(
  port: number,
  ready: (status: number, body: Record<string, unknown>) => boolean,
): Promise<{ status: number; body: Record<string, unknown> }> {
  let last: { status: number; body: Record<string, unknown> } | null = null;
  await waitFor(
    "/healthz to answer",
    async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        last = { status: response.status, body: await response.json() };
        return ready(last.status, last.body);
      } catch {
        return false;
      }
    },
    20_000,
    50,
  );
  return last!;
}

/**
 * Runs `service start` against `server` as its database, with /healthz on a free port; `fn` gets the port and
 * a function that sends a signal and returns the result with how long the daemon took to exit.
 */
async function withDaemon(
  server: WrongServer,
  fn: (
    httpPort: number,
    stop: (signal: Deno.Signal) => Promise<{ result: CliResult; elapsedMs: number }>,
  ) => Promise<void>,
): Promise<void> {
  const httpPort = freePort();
  const { dir, env } = await isolatedEnv({
    DATABASE_URL: databaseUrl(server.port),
    KICK_MONITOR_HTTP: `127.0.0.1:${httpPort}`,
  });
  const daemon = spawnCli(["service", "start"], env);
  try {
    await fn(httpPort, async (signal) => {
      const signalled = performance.now();
      daemon.child.kill(signal);
      const result = await daemon.output();
      return { result, elapsedMs: performance.now() - signalled };
    });
  } finally {
    try {
      daemon.child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await daemon.output().catch(() => {});
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name:
      `service start: waiting for an HTTP server as its database, serves /healthz 503 and stops within 5 s of ${signal}`,
    ...SERVER_TEST,
    async fn() {
      const server = startHttpServer();
      await withDaemon(server, async (httpPort, stop) => {
        const { status, body } = await healthz(
          httpPort,
          (_, body) =>
            typeof body.database === "string" && body.database !== "opening the database",
        );
        assert.equal(status, 503);
        assert.equal(body.healthy, false);
        assert.match(String(body.database), /is not a PostgreSQL server \(it answered like HTTP\)/);
        // The database's address and name, never its user or password.
        assert.equal(body.database_location, `127.0.0.1:${server.port}`);
        assert.equal(body.database_name, "kick");
        const text = JSON.stringify(body);
        assert.ok(!text.includes(PASSWORD) && !text.includes("kick:"), text);

        const { result, elapsedMs } = await stop(signal);
        assert.equal(result.code, 0, result.stderr.slice(-2_000));
        assert.ok(elapsedMs < 5_000, `stopped ${elapsedMs.toFixed(0)} ms after ${signal}`);
        assert.match(result.stderr, /database unreachable; retrying/);
        assert.ok(!result.stderr.includes(PASSWORD));
      });
    },
  });
}

Deno.test({
  name:
    "service start: a signal in the middle of a connection attempt (a silent listener) stops it at once",
  ...SERVER_TEST,
  async fn() {
    await withDaemon(startSilentListener(), async (httpPort, stop) => {
      // Up and waiting on its first attempt, which takes 5 s to give up on a silent listener.
      await healthz(httpPort, (status) => status === 503);
      const { result, elapsedMs } = await stop("SIGTERM");
      assert.equal(result.code, 0, result.stderr.slice(-2_000));
      assert.ok(elapsedMs < 3_000, `stopped ${elapsedMs.toFixed(0)} ms after SIGTERM`);
    });
  },
});
