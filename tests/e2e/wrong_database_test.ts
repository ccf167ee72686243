/**
 * Operator safety (issue 11, item 1): whatever DATABASE_URL points at, the CLI and the daemon never hang.
 * `db health` exits 69 within seconds with a message that says what is there instead of PostgreSQL; the
 * daemon serves /healthz (503, with the reason) while it waits for its database, and stops within seconds of
 * SIGTERM or SIGINT. Each kind of wrong endpoint is a small server in this process, on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, freePort, spawnCli, waitFor } from "../helpers/cli.ts";

const DENO_DIR = Deno.env.get("DENO_DIR") ??
  join(Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache"), "deno");
const PASSWORD = "kms-WRONGDB-5e6f7a8b";

/** An environment with nothing inherited; Kick's URLs point at a closed local port (never the internet). */
async function isolatedEnv(extra: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-wrongdb-" });
  const nowhere = `http://127.0.0.1:${freePort()}`;
  return {
    dir,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: dir,
      DENO_DIR,
      KICK_MONITOR_DATA_DIR: join(dir, "data"),
      KICK_CLIENT_ID: "wrongdb-client",
      KICK_CLIENT_SECRET: "wrongdb-secret-0123456789",
      KICK_OAUTH_URL: nowhere,
      KICK_API_URL: nowhere,
      KICK_WEB_URL: nowhere,
      KICK_PUSHER_URL: `ws://127.0.0.1:${freePort()}/app/key`,
      KICK_MONITOR_HTTP: "off",
      LOG_FORMAT: "json",
      ...extra,
    },
  };
}

/** Runs the CLI, killed after `limitMs` so that a hang fails the test instead of stalling it. */
async function runCli(
  args: string[],
  env: Record<string, string>,
  limitMs = 30_000,
): Promise<CliResult> {
  const run = spawnCli(args, env);
  const timer = setTimeout(() => {
    try {
      run.child.kill("SIGKILL");
    } catch { /* exited */ }
  }, limitMs);
  try {
    return await run.output();
  } finally {
    clearTimeout(timer);
  }
}

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
): void {
  assert.equal(result.code, 69, result.stderr);
  assert.match(result.stderr, new RegExp(`DATABASE_URL \\(127\\.0\\.0\\.1:${port}\\)`));
  assert.match(result.stderr, expected);
  assert.ok(!result.stderr.includes(PASSWORD), "the password is not printed");
  assert.ok(!/kick:/.test(result.stderr), "the user is not printed");
  assert.equal(result.stdout, "");
  assert.ok(elapsedMs < 10_000, `took ${elapsedMs.toFixed(0)} ms`);
}

const SERVER_TEST = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "db health: a closed port exits 69 at once, saying nothing listens there",
  ...SERVER_TEST,
  async fn() {
    const port = freePort();
    assertClearFailure(await dbHealth(port), port, /connection refused, nothing listens there/);
  },
});

Deno.test({
  name: "db health: a silent listener exits 69 within 10 s, saying it did not answer the handshake",
  ...SERVER_TEST,
  async fn() {
    const server = startSilentListener();
    try {
      assertClearFailure(
        await dbHealth(server.port),
        server.port,
        /accepted the connection but did not answer the PostgreSQL handshake/,
      );
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name:
    "db health: an HTTP server exits 69 at once: not a PostgreSQL server, it answered like HTTP",
  ...SERVER_TEST,
  async fn() {
    const server = startHttpServer();
    try {
      const outcome = await dbHealth(server.port);
      assertClearFailure(
        outcome,
        server.port,
        /is not a PostgreSQL server \(it answered like HTTP\)/,
      );
      assert.ok(outcome.elapsedMs < 5_000, `took ${outcome.elapsedMs.toFixed(0)} ms`);
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "db health: a server that closes at once exits 69, saying it hung up without answering",
  ...SERVER_TEST,
  async fn() {
    const server = startClosingServer();
    try {
      assertClearFailure(
        await dbHealth(server.port),
        server.port,
        /closed the connection without answering the PostgreSQL handshake/,
      );
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "db health: a server that greets first (NATS) exits 69: it answered like NATS",
  ...SERVER_TEST,
  async fn() {
    const server = startNatsLikeServer();
    try {
      assertClearFailure(
        await dbHealth(server.port),
        server.port,
        /is not a PostgreSQL server \(it answered like NATS\)/,
      );
    } finally {
      await server.close();
    }
  },
});

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

/** Polls /healthz until it answers; returns the status and JSON body. */
async function healthz(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  let last: { status: number; body: Record<string, unknown> } | null = null;
  await waitFor(
    "/healthz to answer with a reason",
    async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        last = { status: response.status, body: await response.json() };
        return typeof last.body.database === "string" &&
          last.body.database !== "opening the database";
      } catch {
        return false;
      }
    },
    20_000,
    100,
  );
  return last!;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name:
      `service start: waiting for an HTTP server as its database, serves /healthz 503 and stops within 5 s of ${signal}`,
    ...SERVER_TEST,
    async fn() {
      const server = startHttpServer();
      const httpPort = freePort();
      const { dir, env } = await isolatedEnv({
        DATABASE_URL: databaseUrl(server.port),
        KICK_MONITOR_HTTP: `127.0.0.1:${httpPort}`,
      });
      const daemon = spawnCli(["service", "start"], env);
      try {
        const { status, body } = await healthz(httpPort);
        assert.equal(status, 503);
        assert.equal(body.healthy, false);
        assert.match(String(body.database), /is not a PostgreSQL server \(it answered like HTTP\)/);
        // The database's address and name, never its user or password.
        assert.equal(body.database_location, `127.0.0.1:${server.port}`);
        assert.equal(body.database_name, "kick");
        const text = JSON.stringify(body);
        assert.ok(!text.includes(PASSWORD) && !text.includes("kick:"), text);

        const signalled = performance.now();
        daemon.child.kill(signal);
        const result = await daemon.output();
        const elapsed = performance.now() - signalled;
        assert.equal(result.code, 0, result.stderr.slice(-2_000));
        assert.ok(elapsed < 5_000, `stopped ${elapsed.toFixed(0)} ms after ${signal}`);
        assert.match(result.stderr, /database unreachable; retrying/);
        assert.ok(!result.stderr.includes(PASSWORD));
      } finally {
        try {
          daemon.child.kill("SIGKILL");
        } catch { /* exited */ }
        await daemon.output().catch(() => {});
        await server.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name:
    "service start: a signal in the middle of a connection attempt (a silent listener) stops it at once",
  ...SERVER_TEST,
  async fn() {
    const server = startSilentListener();
    const httpPort = freePort();
    const { dir, env } = await isolatedEnv({
      DATABASE_URL: databaseUrl(server.port),
      KICK_MONITOR_HTTP: `127.0.0.1:${httpPort}`,
    });
    const daemon = spawnCli(["service", "start"], env);
    try {
      // Up and waiting on its first attempt, which takes 5 s to give up on a silent listener.
      await waitFor(
        "/healthz",
        async () => {
          try {
            const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
            await response.body?.cancel();
            return response.status === 503;
          } catch {
            return false;
          }
        },
        20_000,
        50,
      );
      const signalled = performance.now();
      daemon.child.kill("SIGTERM");
      const result = await daemon.output();
      const elapsed = performance.now() - signalled;
      assert.equal(result.code, 0, result.stderr.slice(-2_000));
      assert.ok(elapsed < 3_000, `stopped ${elapsed.toFixed(0)} ms after SIGTERM`);
    } finally {
      try {
        daemon.child.kill("SIGKILL");
      } catch { /* exited */ }
      await daemon.output().catch(() => {});
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
