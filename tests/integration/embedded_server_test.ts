/**
 * The embedded database served on a Unix socket (src/store/embedded_server.ts): postgres.js, psql and raw
 * clients against an in-memory PGlite that this process keeps using as the daemon does. What must hold: a
 * client's transaction and the daemon's statements never interleave (either way round), a client that leaves
 * or idles mid-transaction is rolled back, and nothing a client sets for the session reaches the daemon.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { type EmbeddedServer, serveEmbedded } from "../../src/store/embedded_server.ts";
import { PgliteDb } from "../../src/store/pglite_db.ts";
import type { Db } from "../../src/store/db.ts";
import { concat, lastReadyStatus } from "../../src/store/wire.ts";
import { testBackends } from "../helpers/db.ts";
import { waitFor } from "../helpers/cli.ts";
import { leaveStaleSocket } from "../helpers/stale_socket.ts";
import { withTimeout } from "../../src/lib/timeout.ts";

interface Served {
  db: PgliteDb;
  dir: string;
  server: EmbeddedServer;
  /** A postgres.js client through the socket, as the CLI's. */
  client(max?: number): postgres.Sql;
  cleanup(): Promise<void>;
}

async function served(options: { idleInTransactionMs?: number } = {}): Promise<Served> {
  const opened = await testBackends().find((b) => b.name === "pglite")!.open();
  const db = opened.store.db;
  assert.ok(db instanceof PgliteDb);
  await db.exec("CREATE TABLE t (id int PRIMARY KEY, who text NOT NULL)");
  const dir = await Deno.makeTempDir({ prefix: "kick-sock-" });
  const server = await serveEmbedded(db, join(dir, ".s.PGSQL.5432"), options);
  const clients: postgres.Sql[] = [];
  return {
    db,
    dir,
    server,
    client(max = 1) {
      const sql = postgres({
        host: dir,
        port: 5432,
        user: "kick",
        database: "kick",
        max,
        onnotice: () => {},
      });
      clients.push(sql);
      return sql;
    },
    async cleanup() {
      // Bounded: after a failure the database may be wedged, and the test should report, not hang.
      await withTimeout(
        (async () => {
          for (const sql of clients) await sql.end({ timeout: 1 }).catch(() => {});
          await server.close();
          await opened.cleanup();
        })(),
        20_000,
        "closing the served database",
      );
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function ids(db: Db): Promise<number[]> {
  return (await db.query<{ id: number }>("SELECT id FROM t ORDER BY id")).map((r) => r.id);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client speaking the protocol by hand, to disconnect or go quiet exactly where a test wants. */
class RawClient {
  readonly #conn: Deno.Conn;
  #pending: Uint8Array = new Uint8Array(0);

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async connect(dir: string): Promise<RawClient> {
    const client = new RawClient(
      await Deno.connect({ transport: "unix", path: join(dir, ".s.PGSQL.5432") }),
    );
    const parameters = new TextEncoder().encode("user\0raw\0database\0raw\0\0");
    await client.#write(concat([int32(8 + parameters.length), int32(196608), parameters]));
    await client.untilReady();
    return client;
  }

  /** Sends a simple Query and waits for its ReadyForQuery; returns everything the server said. */
  async query(text: string): Promise<string> {
    const body = new TextEncoder().encode(`${text}\0`);
    await this.#write(concat([new TextEncoder().encode("Q"), int32(4 + body.length), body]));
    return await this.untilReady();
  }

  /** Reads until a ReadyForQuery, or until the server hangs up; returns the text it sent. */
  async untilReady(): Promise<string> {
    const chunk = new Uint8Array(65536);
    while (lastReadyStatus(this.#pending) === null) {
      const read = await this.#conn.read(chunk).catch(() => null);
      if (read === null) break;
      this.#pending = concat([this.#pending, chunk.subarray(0, read)]);
    }
    const text = new TextDecoder().decode(this.#pending);
    this.#pending = new Uint8Array(0);
    return text;
  }

  /** Sends raw bytes without waiting for an answer. */
  async send(bytes: Uint8Array): Promise<void> {
    await this.#write(bytes);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed by the server */ }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) at += await this.#conn.write(bytes.subarray(at));
  }
}

function int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value);
  return out;
}

Deno.test("socket: the daemon's statements wait for a client's transaction, and are not part of it", async () => {
  const s = await served();
  try {
    const sql = s.client();
    const inTransaction = deferred();
    const finish = deferred();
    const clientTransaction = sql.begin(async (tx) => {
      await tx`INSERT INTO t VALUES (1, 'client')`;
      inTransaction.resolve();
      await finish.promise;
      await tx`INSERT INTO t VALUES (2, 'client')`;
      throw new Error("the client rolls back");
    }).catch((error) => error);
    await inTransaction.promise;
    let daemonDone = false;
    const daemonWrites = Promise.all([
      s.db.query("INSERT INTO t VALUES (10, 'daemon')"),
      s.db.transaction(async (tx) => {
        await tx.query("INSERT INTO t VALUES (11, 'daemon')");
        await tx.query("INSERT INTO t VALUES (12, 'daemon')");
      }),
    ]).then(() => daemonDone = true);
    await sleep(200);
    assert.equal(daemonDone, false, "the daemon ran while the client's transaction was open");
    finish.resolve();
    assert.match(String(await clientTransaction), /the client rolls back/);
    await daemonWrites;
    // Had the daemon's inserts run inside the client's transaction, its rollback would have taken them.
    assert.deepEqual(await ids(s.db), [10, 11, 12]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: a client's statements wait for the daemon's transaction, and are not part of it", async () => {
  const s = await served();
  try {
    const sql = s.client();
    const inTransaction = deferred();
    const finish = deferred();
    const daemonTransaction = s.db.transaction(async (tx) => {
      await tx.query("INSERT INTO t VALUES (20, 'daemon')");
      inTransaction.resolve();
      await finish.promise;
      await tx.query("INSERT INTO t VALUES (21, 'daemon')");
      throw new Error("the daemon rolls back");
    }).catch((error) => error);
    await inTransaction.promise;
    let clientDone = false;
    const clientWrites = Promise.all([
      sql`INSERT INTO t VALUES (${30}, 'client')`,
      sql.begin(async (tx) => {
        await tx`INSERT INTO t VALUES (${31}, 'client')`;
        // A BEGIN inside the daemon's transaction would have been a warning, and its COMMIT the daemon's.
        await tx`INSERT INTO t VALUES (${32}, 'client')`;
      }),
    ]).then(() => clientDone = true);
    await sleep(200);
    assert.equal(clientDone, false, "the client ran while the daemon's transaction was open");
    finish.resolve();
    assert.match(String(await daemonTransaction), /the daemon rolls back/);
    await clientWrites;
    assert.deepEqual(await ids(s.db), [30, 31, 32]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: two clients' transactions take turns", async () => {
  const s = await served();
  try {
    const first = s.client();
    const second = s.client();
    const inTransaction = deferred();
    const finish = deferred();
    const firstTransaction = first.begin(async (tx) => {
      await tx`INSERT INTO t VALUES (${40}, 'first')`;
      inTransaction.resolve();
      await finish.promise;
      throw new Error("first rolls back");
    }).catch((error) => error);
    await inTransaction.promise;
    let secondDone = false;
    const secondWrite = second.begin((tx) => tx`INSERT INTO t VALUES (${41}, 'second')`)
      .then(() => secondDone = true);
    await sleep(200);
    assert.equal(secondDone, false);
    finish.resolve();
    await firstTransaction;
    await secondWrite;
    assert.deepEqual(await ids(s.db), [41]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: statements from several clients and the daemon at once each get their own answer", async () => {
  const s = await served();
  try {
    const clients = [s.client(), s.client(2), s.client()];
    // Connected first, so that the daemon's statements below overlap the clients' rather than precede them.
    await Promise.all(clients.map((sql) => sql`SELECT 1`));
    const work: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      clients.forEach((sql, c) => {
        const value = c * 1000 + i;
        // With parameters: Parse, Bind, Describe, Execute, Sync for each, pipelined by postgres.js. A
        // statement of the daemon's between a client's Bind and Execute would replace its unnamed portal.
        work.push((async () => {
          const [row] = await sql`SELECT ${value}::int AS n, ${`c${c}`}::text AS who`;
          assert.deepEqual({ ...row }, { n: value, who: `c${c}` });
        })());
        if (i % 8 === 0) {
          work.push(sql.begin(async (tx) => {
            await tx`INSERT INTO t VALUES (${value}, ${`c${c}`})`;
            const [row] = await tx`SELECT who FROM t WHERE id = ${value}`;
            assert.equal(row.who, `c${c}`);
          }));
        }
      });
    }
    let clientsDone = false;
    const clientWork = Promise.all(work).finally(() => clientsDone = true);
    let daemonStatements = 0;
    const daemonWork = (async () => {
      for (let i = 1; !clientsDone; i++) {
        const [row] = await s.db.query<{ n: number; who: string }>(
          "SELECT $1::int AS n, 'daemon' AS who",
          [-i],
        );
        assert.deepEqual(row, { n: -i, who: "daemon" });
        if (i % 10 === 0) {
          await s.db.transaction((tx) => tx.query("INSERT INTO t VALUES ($1, 'daemon')", [-i]));
        }
        daemonStatements++;
        // In-memory PGlite answers without I/O: without a pause, this loop alone would run.
        await sleep(1);
      }
    })();
    // Statements crossed on the wire leave clients waiting for answers that never come: fail, don't hang.
    await withTimeout(
      Promise.all([clientWork, daemonWork]),
      60_000,
      "the clients' and daemon's statements",
    );
    assert.ok(daemonStatements >= 5, `the daemon ran ${daemonStatements} statements meanwhile`);
    const rows = await s.db.query<{ who: string; n: number }>(
      "SELECT who, count(*)::int AS n FROM t GROUP BY who ORDER BY who",
    );
    assert.deepEqual(rows.filter((r) => r.who !== "daemon"), [
      { who: "c0", n: 5 },
      { who: "c1", n: 5 },
      { who: "c2", n: 5 },
    ]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: a client that disconnects mid-transaction is rolled back; the daemon carries on", async () => {
  const s = await served();
  try {
    const raw = await RawClient.connect(s.dir);
    const answer = await raw.query("BEGIN; INSERT INTO t VALUES (50, 'gone')");
    assert.match(answer, /INSERT 0 1/);
    raw.close();
    // Had the session stayed in the client's transaction, this one would have committed row 50 with it.
    await s.db.transaction((tx) => tx.query("INSERT INTO t VALUES (51, 'daemon')"));
    assert.deepEqual(await ids(s.db), [51]);
    await waitFor("the server to forget the client", () => s.server.clients() === 0, 5_000);
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: a client idle in a transaction too long is disconnected (25P03) and rolled back", async () => {
  const s = await served({ idleInTransactionMs: 300 });
  try {
    const raw = await RawClient.connect(s.dir);
    await raw.query("BEGIN; INSERT INTO t VALUES (60, 'idle')");
    const daemonWrite = s.db.query("INSERT INTO t VALUES (61, 'daemon')");
    const farewell = await raw.untilReady();
    assert.match(farewell, /25P03/);
    assert.match(farewell, /idle-in-transaction timeout/);
    await daemonWrite;
    assert.deepEqual(await ids(s.db), [61]);
    raw.close();
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: a client that does not read its answer is disconnected; the daemon carries on", async () => {
  const s = await served({ idleInTransactionMs: 300 });
  try {
    const raw = await RawClient.connect(s.dir);
    // One turn (no transaction left open) whose answer is far more than the socket's buffers hold, never
    // read: the session stays with the client until its answer is written.
    const body = new TextEncoder().encode(
      "INSERT INTO t VALUES (65, 'deaf'); SELECT repeat('x', 1000) FROM generate_series(1, 20000)\0",
    );
    await raw.send(concat([new TextEncoder().encode("Q"), int32(4 + body.length), body]));
    await waitFor("the client's turn", () => s.server.clientHasSession(), 5_000, 5);
    await withTimeout(
      s.db.query("INSERT INTO t VALUES (66, 'daemon')"),
      20_000,
      "the daemon's insert behind a client that does not read",
    );
    assert.deepEqual(await ids(s.db), [65, 66]);
    raw.close();
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: what a client sets for the session ends with its turn; its statements with it", async () => {
  const s = await served();
  try {
    await s.db.query("INSERT INTO t VALUES (70, 'daemon')");
    const settings = () =>
      s.db.query<{ path: string; timeout: string }>(
        "SELECT current_setting('search_path') AS path, current_setting('statement_timeout') AS timeout",
      );
    const before = await settings();
    const raw = await RawClient.connect(s.dir);
    // A temporary table is first on the search_path: left behind, it would hide the daemon's real one.
    await raw.query(
      "SET search_path TO nowhere; CREATE TEMP TABLE t (id int, who text); SET statement_timeout = 1",
    );
    assert.deepEqual(await ids(s.db), [70]);
    assert.deepEqual(await settings(), before);
    raw.close();

    const sql = s.client();
    await sql`SELECT ${1}::int AS prepared`;
    const count = async () =>
      // The daemon's own (pglite_db.ts prepares each of its statements once) are not the client's.
      (await s.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE NOT starts_with(name, 'kick_monitor_q')",
      ))[0].n;
    assert.ok((await count()) > 0, "postgres.js prepares its statements");
    await sql.end();
    await waitFor(
      "its prepared statements to be dropped",
      async () => (await count()) === 0,
      5_000,
    );
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: a client's DEALLOCATE ALL or DISCARD ALL does not break the daemon's prepared statements", async () => {
  const s = await served();
  try {
    await s.db.query("INSERT INTO t VALUES (71, 'daemon')");
    assert.deepEqual(await ids(s.db), [71]);
    for (const drop of ["DEALLOCATE ALL", "DISCARD ALL"]) {
      const raw = await RawClient.connect(s.dir);
      await raw.query(drop);
      raw.close();
      // The same texts again, at the top level and inside a transaction: prepared afresh, not "does not exist".
      assert.deepEqual(await ids(s.db), [71]);
      assert.deepEqual(await s.db.transaction((tx) => ids(tx)), [71]);
    }
    // Planned for each execution (pglite_db.ts SESSION_DEFAULTS), also after a client changed that.
    const raw = await RawClient.connect(s.dir);
    await raw.query("SET plan_cache_mode = force_generic_plan");
    raw.close();
    const [mode] = await s.db.query<{ mode: string }>(
      "SELECT current_setting('plan_cache_mode') AS mode",
    );
    assert.equal(mode.mode, "force_custom_plan");
  } finally {
    await s.cleanup();
  }
});

Deno.test({
  name: "socket: psql works through it (`psql -h DATA_DIR`)",
  ignore: !(await hasPsql()),
  async fn() {
    const s = await served();
    try {
      await s.db.query("INSERT INTO t VALUES (80, 'daemon')");
      const output = await new Deno.Command("psql", {
        args: ["-h", s.dir, "-X", "-A", "-t", "-c", "SELECT who FROM t WHERE id = 80"],
        env: { PGUSER: "anyone", PGDATABASE: "any", PGCONNECT_TIMEOUT: "5" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      assert.equal(new TextDecoder().decode(output.stdout).trim(), "daemon");
    } finally {
      await s.cleanup();
    }
  },
});

async function hasPsql(): Promise<boolean> {
  try {
    return (await new Deno.Command("psql", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

Deno.test("socket: 0600; stopping disconnects clients, rolls them back and removes the socket", async () => {
  const s = await served();
  const path = join(s.dir, ".s.PGSQL.5432");
  try {
    assert.equal(Deno.lstatSync(path).mode! & 0o777, 0o600);
    const raw = await RawClient.connect(s.dir);
    await raw.query("BEGIN; INSERT INTO t VALUES (90, 'client')");
    await s.server.close();
    assert.match(await raw.untilReady(), /the monitor is stopping/);
    assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
    await s.db.query("INSERT INTO t VALUES (91, 'daemon')");
    assert.deepEqual(await ids(s.db), [91]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("socket: a stale socket is replaced; a file that is not a socket, or a path too long, is refused", async () => {
  const s = await served();
  const path = join(s.dir, ".s.PGSQL.5432");
  try {
    await s.server.close();
    await leaveStaleSocket(path);
    assert.ok(Deno.lstatSync(path).isSocket);
    await assert.rejects(Deno.connect({ transport: "unix", path }), Deno.errors.ConnectionRefused);

    const again = await serveEmbedded(s.db, path);
    const sql = s.client();
    assert.equal((await sql`SELECT 1 AS one`)[0].one, 1);
    await sql.end();
    await again.close();

    await Deno.writeTextFile(path, "not a socket");
    await assert.rejects(serveEmbedded(s.db, path), /not a socket/);
    assert.equal(await Deno.readTextFile(path), "not a socket");
    await assert.rejects(
      serveEmbedded(s.db, join(s.dir, "x".repeat(120), ".s.PGSQL.5432")),
      /longer than the 107 bytes/,
    );
  } finally {
    await s.cleanup();
  }
});
