/**
 * The daemon lends its embedded database (PGlite, one session) to kick-monitor's other commands, and to psql,
 * over a Unix socket in the data directory that speaks PostgreSQL's wire protocol: `.s.PGSQL.5432`, libpq's
 * name, so `psql -h DATA_DIR` finds it. The socket is 0600 in the 0700 data directory: only its user connects,
 * without a password (as PostgreSQL's `local … peer`).
 *
 * Why not @electric-sql/pglite-socket: it queues single protocol messages, not transactions. Between two
 * messages of a client's BEGIN … COMMIT (or its Parse … Sync), the daemon's own queries could run inside the
 * client's transaction, and the other way round, because its lock is PGlite's per-statement one and the
 * daemon's transactions release that between statements. Here a client keeps the session (PgliteDb's
 * `lease()`) from its first message until PGlite answers ReadyForQuery "idle": one whole transaction, or one
 * Sync of the extended protocol, and the daemon's statements and transactions wait for their turn like
 * anyone's.
 *
 * Being one session, its state is shared; so, as in PgBouncer's transaction pooling, what a client sets for
 * the session (SET, temporary tables, cursors, LISTEN, advisory locks) is undone when its turn ends. Its
 * prepared statements last until it disconnects. A client that keeps the session without sending anything
 * (idle in a transaction) for `idleInTransactionMs`, or without reading its answer, is disconnected, as
 * PostgreSQL's idle_in_transaction_session_timeout does; a client that disconnects mid-transaction is rolled
 * back.
 */
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import { withTimeout } from "../lib/timeout.ts";
import { quoteIdentifier } from "./db.ts";
import type { PgliteDb, PgliteSession } from "./pglite_db.ts";
import {
  concat,
  errorResponse,
  greeting,
  lastReadyStatus,
  negotiateProtocolVersion,
  parsedStatementName,
  takeMessage,
  takeStartupPacket,
} from "./wire.ts";

/** The socket's name in the data directory: libpq's for port 5432. */
export const EMBEDDED_SOCKET_NAME = ".s.PGSQL.5432";

/** Longest Unix socket path Linux accepts (`sun_path` is 108 bytes with its terminating zero). */
const MAX_SOCKET_PATH_BYTES = 107;

/** The parameters a client is told at start-up, read from PGlite (libpq and psql look at these). */
const REPORTED_PARAMETERS = [
  "server_version",
  "server_encoding",
  "client_encoding",
  "DateStyle",
  "IntervalStyle",
  "TimeZone",
  "integer_datetimes",
  "standard_conforming_strings",
  "is_superuser",
  "session_authorization",
  "default_transaction_read_only",
  "in_hot_standby",
];

/** A running socket server. */
export interface EmbeddedServer {
  /** The socket's path. */
  readonly path: string;
  /** Clients connected now. */
  clients(): number;
  /** Whether a client has the session now (its turn: a transaction, or a statement outside one). */
  clientHasSession(): boolean;
  /** Stops accepting, disconnects every client (rolling back its transaction) and removes the socket. */
  close(): Promise<void>;
}

/** Options of {@link serveEmbedded}. */
export interface ServeOptions {
  /** How long a client may hold the session without sending anything (default 10 s). */
  idleInTransactionMs?: number;
}

/**
 * Serves `db` on a Unix socket at `path`, replacing a stale socket file left there by a daemon that died
 * (the caller holds the data directory's monitor lock, so no live server can own it). Throws when the path
 * is too long for a socket, or something other than a socket is there.
 */
export async function serveEmbedded(
  db: PgliteDb,
  path: string,
  options: ServeOptions = {},
): Promise<EmbeddedServer> {
  if (new TextEncoder().encode(path).length > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `${path} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket path may have`,
    );
  }
  await removeStaleSocket(path);
  const parameters = await reportedParameters(db);
  const listener = Deno.listen({ transport: "unix", path });
  try {
    await Deno.chmod(path, 0o600);
  } catch (error) {
    listener.close();
    throw error;
  }
  const idleMs = options.idleInTransactionMs ?? 10_000;
  const clients = new Map<Deno.Conn, ClientState>();
  const handlers = new Set<Promise<void>>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const state: ClientState = { busy: false, closed: false, hasSession: false };
        clients.set(conn, state);
        const handler = serveClient(conn, db, { parameters, idleMs, state })
          .catch((error) => log.debug("embedded database client failed", { error }))
          .finally(() => {
            clients.delete(conn);
            handlers.delete(handler);
          });
        handlers.add(handler);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) {
        log.warn("the embedded database's socket stopped accepting", { error });
      }
    }
  })();
  log.info("serving the embedded database to other commands", { socket: path });
  let closing: Promise<void> | null = null;
  return {
    path,
    clients: () => clients.size,
    clientHasSession: () => [...clients.values()].some((state) => state.hasSession),
    close(): Promise<void> {
      closing ??= (async () => {
        listener.close();
        await accepting;
        for (const [conn, state] of clients) {
          // Mid-answer, a notice would cut PGlite's answer in two; the closed socket says enough then.
          if (!state.busy) {
            await writeSafely(
              conn,
              errorResponse("FATAL", "57P01", "terminating connection: the monitor is stopping"),
            );
          }
          closeConn(conn, state);
        }
        await Promise.allSettled([...handlers]);
        // Deno unlinks the socket when its listener closes; make sure, since a later CLI would find it.
        await Deno.remove(path).catch(() => {});
      })();
      return closing;
    },
  };
}

/** What the server knows about one client. */
interface ClientState {
  /** Between a message's arrival and the end of PGlite's answer to it. */
  busy: boolean;
  closed: boolean;
  /** It has the session: from its turn's first message to its end. */
  hasSession: boolean;
}

/** One client, from its StartupMessage to its Terminate or disconnection. */
async function serveClient(
  conn: Deno.Conn,
  db: PgliteDb,
  options: { parameters: Record<string, string>; idleMs: number; state: ClientState },
): Promise<void> {
  const { state } = options;
  let buffer: Uint8Array = new Uint8Array(0);
  let started = false;
  let session: PgliteSession | null = null;
  // Named prepared statements it created: dropped when it leaves, the rest of its state after each turn.
  const statements = new Set<string>();
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const chunk = new Uint8Array(64 * 1024);
  try {
    while (!state.closed) {
      const read = await conn.read(chunk);
      clearTimeout(idleTimer);
      if (read === null) return;
      buffer = concat([buffer, chunk.subarray(0, read)]);
      while (true) {
        if (!started) {
          const taken = takeStartupPacket(buffer);
          if (taken.kind === "incomplete") break;
          if (taken.kind === "invalid") return await refuse(conn, "08P01", taken.reason);
          buffer = buffer.slice(taken.size);
          const packet = taken.message;
          if (packet.kind === "ssl" || packet.kind === "gssenc") {
            // "N": no encryption; the socket is local and private.
            await conn.write(new TextEncoder().encode("N"));
          } else if (packet.kind === "cancel") {
            // One session cannot be interrupted from outside; the client waits for its statement instead.
            return;
          } else if (packet.kind === "unsupported") {
            return await refuse(conn, "0A000", `unsupported frontend protocol ${packet.code}`);
          } else {
            const answer = greeting(options.parameters, Deno.pid);
            await writeAll(
              conn,
              packet.minorVersion > 0 ? concat([negotiateProtocolVersion(), answer]) : answer,
            );
            started = true;
          }
          continue;
        }
        const taken = takeMessage(buffer);
        if (taken.kind === "incomplete") break;
        if (taken.kind === "invalid") return await refuse(conn, "08P01", taken.reason);
        buffer = buffer.slice(taken.size);
        const message = taken.message;
        if (message.type === "X") return;
        state.busy = true;
        session ??= await db.lease();
        state.hasSession = true;
        const name = parsedStatementName(message);
        if (name !== null && name !== "") statements.add(name);
        const answer = await session.exchange(message.bytes);
        // A client that does not read its answer keeps the session as surely as one that sends nothing.
        await withTimeout(writeAll(conn, answer), options.idleMs, "sending a client its answer")
          .catch((error) => {
            closeConn(conn, state);
            throw error;
          });
        if (lastReadyStatus(answer) === "I") {
          // The end of a turn: outside any transaction, nothing of this client's is in flight.
          await session.restore();
          session.release();
          session = null;
          state.hasSession = false;
        }
        state.busy = false;
      }
      if (session !== null) {
        // Holding the session and waiting for the client: in a transaction, or between Parse and Sync.
        idleTimer = setTimeout(() => {
          writeSafely(
            conn,
            errorResponse(
              "FATAL",
              "25P03",
              "terminating connection due to idle-in-transaction timeout " +
                `(${options.idleMs} ms; the embedded database is shared with the monitor)`,
            ),
          ).finally(() => closeConn(conn, state));
        }, options.idleMs);
      }
    }
  } catch (error) {
    if (!state.closed) log.debug("embedded database client disconnected", { error });
  } finally {
    clearTimeout(idleTimer);
    closeConn(conn, state);
    await cleanUp(db, session, statements);
  }
}

/**
 * Gives the session back clean after a client left: its open transaction rolled back, its prepared
 * statements dropped, its session settings undone.
 */
async function cleanUp(
  db: PgliteDb,
  held: PgliteSession | null,
  statements: Set<string>,
): Promise<void> {
  if (held === null && statements.size === 0) return;
  const session = held ?? await db.lease();
  try {
    if (session.inTransaction()) await session.exec("ROLLBACK");
    if (statements.size > 0) {
      const present = await session.query<{ name: string }>(
        "SELECT name FROM pg_prepared_statements WHERE name = ANY($1::text[])",
        [[...statements]],
      );
      for (const { name } of present) await session.exec(`DEALLOCATE ${quoteIdentifier(name)}`);
    }
    await session.restore();
  } catch (error) {
    log.warn("could not clean up after a client of the embedded database", {
      error: describeError(error),
    });
  } finally {
    session.release();
  }
}

async function refuse(conn: Deno.Conn, code: string, message: string): Promise<void> {
  await writeSafely(conn, errorResponse("FATAL", code, message));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

async function writeSafely(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  try {
    await writeAll(conn, bytes);
  } catch {
    // The client is gone already.
  }
}

function closeConn(conn: Deno.Conn, state: ClientState): void {
  if (state.closed) return;
  state.closed = true;
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/** Removes a socket file left by a daemon that died; refuses to remove anything else. */
async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (info.isSocket !== true) {
    throw new Error(`${path} exists and is not a socket; move it away`);
  }
  await Deno.remove(path);
  log.info("removed the socket a previous monitor left behind", { socket: path });
}

async function reportedParameters(db: PgliteDb): Promise<Record<string, string>> {
  const rows = await db.query<{ name: string; value: string | null }>(
    "SELECT name, current_setting(name, true) AS value FROM unnest($1::text[]) AS name",
    [REPORTED_PARAMETERS],
  );
  const parameters: Record<string, string> = {};
  for (const { name, value } of rows) if (value !== null) parameters[name] = value;
  // Our own name, as PostgreSQL echoes the client's: psql shows it, nothing depends on it.
  parameters.application_name = "kick-monitor";
  return parameters;
}
