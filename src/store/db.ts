/**
 * One small database interface with two backends behind it: a PostgreSQL server (postgres.js, here) and the
 * embedded PostgreSQL (PGlite, pglite_db.ts). Both run the same SQL text with `$1` placeholders, and both
 * return bigint columns as JS numbers (our ids and Kick's ids fit in 2^53) and timestamps as Dates, so nothing
 * above this file can tell them apart except by `kind`.
 */
import postgres from "postgres";
import { sleep } from "../lib/backoff.ts";
import { UnavailableError } from "../lib/errors.ts";
import { addSecret, redact } from "../lib/redact.ts";
import { type DatabaseTarget, parseDatabaseUrl } from "./database_url.ts";
import { describeVerdict, probeEndpoint, type ProbeVerdict } from "./endpoint_probe.ts";
import { installPostgresCrashGuard } from "./postgres_crash_guard.ts";

/** Which backend a Db talks to. */
export type DbKind = "postgres" | "pglite";

/** A connection (pool) or an open transaction; every statement is parameterised with `$1`, `$2`, …. */
export interface Db {
  /** Which backend it talks to. */
  readonly kind: DbKind;
  /**
   * Runs one statement and returns its rows. Statements issued on one transaction without awaiting each
   * other run in the order issued (pipelined on PostgreSQL, queued on PGlite).
   */
  query<T>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /** Runs `fn` in a transaction (a savepoint when already in one); commits when it resolves. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /** Closes the connection(s); a no-op on a transaction. */
  close(): Promise<void>;
}

/** A single connection taken out of the pool, for session state such as advisory locks. */
export interface ReservedDb extends Db {
  /** Gives the connection back to the pool. */
  release(): Promise<void>;
}

/** PostgreSQL type oid of bigint (int8). */
export const INT8_OID = 20;

/** Options of `openPostgres`. */
export interface PostgresOptions {
  /** Sets `search_path` on every connection, so unqualified names live in this schema. */
  searchPath?: string;
  /** Pool size; 10 by default. */
  maxConnections?: number;
  /** Seconds to wait for a connection; 5 by default. */
  connectTimeoutSeconds?: number;
}

/** How long a first connection may be slow before the endpoint is asked whether it is PostgreSQL at all. */
const PROBE_AFTER_MS = 250;

/**
 * Connects to a PostgreSQL server and checks it answers, within the connect timeout (5 s by default) whatever
 * is at the address. Throws UnavailableError (exit 69) when it cannot be reached, refuses us or is not
 * PostgreSQL; the message names DATABASE_URL and the server's address, never the user or password.
 */
export async function openPostgres(
  url: string,
  options: PostgresOptions = {},
): Promise<PostgresDb> {
  installPostgresCrashGuard();
  let target: DatabaseTarget;
  try {
    target = parseDatabaseUrl(url);
  } catch (error) {
    throw new UnavailableError(`Cannot use DATABASE_URL: ${errorMessage(error)}`, { cause: error });
  }
  addSecret(target.password);
  const where = target.endpoint?.transport === "unix"
    ? `${target.address} (database ${target.database})`
    : `${target.address}/${target.database}`;
  const connection: Record<string, string> = { application_name: "kick-monitor" };
  if (options.searchPath !== undefined) {
    connection.search_path = quoteIdentifier(options.searchPath);
  }
  const connectTimeoutSeconds = options.connectTimeoutSeconds ?? 5;
  let sql: postgres.Sql;
  try {
    sql = postgres(target.driverUrl, {
      ...target.driverOptions,
      max: options.maxConnections ?? 10,
      connect_timeout: connectTimeoutSeconds,
      onnotice: () => {},
      connection,
      types: {
        bigint: {
          to: INT8_OID,
          from: [INT8_OID],
          serialize: (value: number) => String(value),
          parse: (value: string) => Number(value),
        },
      },
    });
  } catch (error) {
    // postgres.js throws synchronously on a URL it cannot parse.
    throw new UnavailableError(
      `Cannot use DATABASE_URL (${where}): ${redact(errorMessage(error))}`,
      { cause: error },
    );
  }
  try {
    // Connects now, so a wrong URL fails here with a clear message rather than at the first real query.
    await connectWithin(sql, target, connectTimeoutSeconds * 1000);
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    if (error instanceof UnavailableError) throw error;
    throw new UnavailableError(
      `Cannot connect to PostgreSQL at ${where}: ${redact(errorMessage(error))}`,
      { cause: error },
    );
  }
  return new PostgresDb(sql, { kind: "pool", sql }, where);
}

/**
 * The first round trip, with a deadline postgres.js does not keep on its own (it reconnects forever to a
 * server that answers garbage and hangs up). When it is slow or fails at the connection level, the endpoint
 * is probed (endpoint_probe.ts) so the error says what is there instead.
 */
async function connectWithin(
  sql: postgres.Sql,
  target: DatabaseTarget,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs + 1_000;
  // Cancels this function's own timers when it returns, so none outlives it.
  const done = new AbortController();
  const after = (ms: number) => sleep(ms, done.signal).then(() => null, () => null);
  type Outcome = { kind: "connected" } | { kind: "failed"; error: unknown };
  const connecting: Promise<Outcome> = sql.unsafe("SELECT 1").then(
    () => ({ kind: "connected" }),
    (error) => ({ kind: "failed", error }),
  );
  let probe: Promise<ProbeVerdict | null> | null = null;
  const startProbe = () =>
    probe ??= target.endpoint === null
      ? Promise.resolve(null)
      : probeEndpoint(target.endpoint, { timeoutMs: Math.max(1_000, timeoutMs) });
  const explain = async (error: unknown): Promise<never> => {
    const verdict = isNetworkError(error) ? await startProbe() : null;
    const reason = verdict === null ? null : describeVerdict(verdict, target.address);
    if (reason !== null) throw new UnavailableError(reason, { cause: error });
    throw error;
  };
  try {
    const early = await Promise.race([connecting, after(PROBE_AFTER_MS)]);
    if (early?.kind === "connected") return;
    if (early?.kind === "failed") return await explain(early.error);
    // Slow: ask the endpoint what it is while the driver keeps trying.
    const probed = startProbe().then((verdict) => ({ kind: "probed" as const, verdict }));
    const next = await Promise.race([connecting, probed]);
    if (next.kind === "connected") return;
    if (next.kind === "failed") return await explain(next.error);
    const reason = next.verdict === null ? null : describeVerdict(next.verdict, target.address);
    if (reason !== null) throw new UnavailableError(reason);
    // PostgreSQL answers the probe: give the driver the rest of the deadline.
    const last = await Promise.race([connecting, after(Math.max(0, deadline - Date.now()))]);
    if (last === null) {
      throw new UnavailableError(
        `DATABASE_URL (${target.address}) did not complete a connection within ${
          Math.round((timeoutMs + 1_000) / 1000)
        } s`,
      );
    }
    if (last.kind === "failed") return await explain(last.error);
  } finally {
    done.abort();
  }
}

/** What a PostgresDb's statements run on. */
type PostgresTarget =
  | { kind: "pool"; sql: postgres.Sql }
  | { kind: "transaction"; sql: postgres.TransactionSql }
  | { kind: "reserved"; sql: postgres.ReservedSql };

/** The postgres.js backend: the pool, a transaction of it, or one reserved connection. */
export class PostgresDb implements Db {
  readonly kind = "postgres" as const;
  readonly #pool: postgres.Sql;
  readonly #target: PostgresTarget;
  /** The server's address and database, for messages (never the user or password). */
  readonly #where: string;

  /** A Db over a postgres.js pool or transaction; `where` names the server in messages. */
  constructor(pool: postgres.Sql, target: PostgresTarget, where: string) {
    this.#pool = pool;
    this.#target = target;
    this.#where = where;
  }

  /** Runs one statement; parameterised statements are prepared once per connection and reused. */
  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    try {
      const rows = await this.#target.sql.unsafe(
        text,
        params as postgres.ParameterOrJSON<never>[],
        { prepare: params.length > 0 },
      );
      return Array.from(rows) as T[];
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /** Runs a multi-statement script with the simple query protocol. */
  async exec(script: string): Promise<void> {
    try {
      // postgres.js uses the simple protocol (several statements allowed) when there are no parameters.
      await this.#target.sql.unsafe(script);
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /** BEGIN … COMMIT on one connection, or a savepoint when already in a transaction. */
  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const target = this.#target;
    const run = (sql: postgres.TransactionSql): Promise<T> =>
      fn(new PostgresDb(this.#pool, { kind: "transaction", sql }, this.#where));
    try {
      switch (target.kind) {
        case "pool":
          return await target.sql.begin(run) as T;
        case "transaction":
          return await target.sql.savepoint(run) as T;
        case "reserved":
          // postgres.js has no begin() on a reserved connection; nothing here needs one.
          throw new Error("Transactions on a reserved connection are not supported");
      }
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /** Takes one connection out of the pool until `release()`; for session-level advisory locks. */
  async reserve(): Promise<ReservedDb> {
    let sql: postgres.ReservedSql;
    try {
      sql = await this.#pool.reserve();
    } catch (error) {
      throw this.#translate(error);
    }
    const db = new PostgresDb(this.#pool, { kind: "reserved", sql }, this.#where);
    return {
      kind: "postgres",
      query: (text, params) => db.query(text, params),
      exec: (script) => db.exec(script),
      transaction: (fn) => db.transaction(fn),
      close: (): Promise<void> => Promise.resolve(),
      release: (): Promise<void> => {
        sql.release();
        return Promise.resolve();
      },
    };
  }

  /** Ends every connection of the pool (waiting up to 5 s for running queries); no-op otherwise. */
  async close(): Promise<void> {
    if (this.#target.kind !== "pool") return;
    await this.#pool.end({ timeout: 5 });
  }

  /** Connection-level failures become UnavailableError; SQL errors pass through unchanged. */
  #translate(error: unknown): unknown {
    if (error instanceof UnavailableError || !isConnectionError(error)) return error;
    return new UnavailableError(
      `Lost or refused connection to PostgreSQL at ${this.#where}: ${redact(errorMessage(error))}`,
      { cause: error },
    );
  }
}

/** `"name"`, with embedded quotes doubled: for identifiers (schema names), which cannot be parameters. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The URL with its password (and secret parameters) replaced by `***`, for messages and logs. */
export function maskDatabaseUrl(url: string): string {
  return redact(url);
}

/** An error's message, with its code (SQLSTATE or socket error) when the message does not name it. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message !== "" ? error.message : String(code ?? error.name);
    return typeof code === "string" && !message.includes(code) ? `${message} (${code})` : message;
  }
  return String(error);
}

// Node/Deno socket errors and postgres.js's own connection errors.
const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "EPIPE",
  // A Unix socket path where no server listens.
  "ENOENT",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** True for a failure of the connection itself (not an answer of the server). */
function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && CONNECTION_ERROR_CODES.has(code);
}

/** True for "cannot reach or use the server" (as opposed to an error in a statement). */
function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  if (CONNECTION_ERROR_CODES.has(code)) return true;
  // SQLSTATE classes 08 (connection exception) and 28 (invalid authorization); 3D000 (no such database);
  // 53300 (too many connections); 57P01–57P03 (server shutting down or starting).
  return /^(08|28)/.test(code) || code === "3D000" || code === "53300" || /^57P0[123]$/.test(code);
}
