/**
 * The other side of embedded_server.ts: a command finds the running monitor's socket in the data directory and
 * reaches the embedded database through it, with postgres.js, as if it were a PostgreSQL server. Nothing above
 * the Db interface can tell: the Db says `kind: "pglite"` (it is PGlite, one session) and runs the same SQL.
 */
import { resolve } from "node:path";
import { UnavailableError } from "../lib/errors.ts";
import { type Db, errorMessage, openPostgres } from "./db.ts";
import { EMBEDDED_SOCKET_NAME } from "./embedded_server.ts";

/** Where the daemon serves the embedded database of `dataDir`: an absolute path. */
export function embeddedSocketPath(dataDir: string): string {
  return resolve(dataDir, EMBEDDED_SOCKET_NAME);
}

/**
 * Connects to the embedded database of `dataDir` through the monitor that serves it; null when none does: no
 * socket, or one a killed monitor left behind (nobody accepts on it), or one this user cannot open.
 */
export async function connectToServedEmbedded(dataDir: string): Promise<Db | null> {
  const path = embeddedSocketPath(dataDir);
  try {
    // A quick look before postgres.js, whose failures take the slower road of explaining a server.
    (await Deno.connect({ transport: "unix", path })).close();
  } catch {
    return null;
  }
  const dir = resolve(dataDir);
  const url = `postgres://kick-monitor@/kick-monitor?host=${encodeURIComponent(dir)}`;
  try {
    // One connection: the database is one session, as when this process opens PGlite itself.
    return new ServedEmbeddedDb(await openPostgres(url, { maxConnections: 1 }), dir);
  } catch (error) {
    throw monitorGone(dir, error);
  }
}

/** Thrown when the monitor serving the embedded database cannot be reached any more (exit 69). */
class MonitorGoneError extends UnavailableError {}

function monitorGone(dataDir: string, error: unknown): unknown {
  if (!(error instanceof UnavailableError) || error instanceof MonitorGoneError) return error;
  return new MonitorGoneError(
    `Lost the connection to the monitor that serves the embedded database in ${dataDir} ` +
      `(did it stop?): ${errorMessage(error.cause ?? error)}`,
    { cause: error },
  );
}

/** The embedded database, reached through the monitor's socket. */
class ServedEmbeddedDb implements Db {
  readonly kind = "pglite" as const;
  readonly #db: Db;
  readonly #dataDir: string;

  constructor(db: Db, dataDir: string) {
    this.#db = db;
    this.#dataDir = dataDir;
  }

  query<T>(text: string, params?: unknown[]): Promise<T[]> {
    return this.#explained(() => this.#db.query<T>(text, params));
  }

  exec(script: string): Promise<void> {
    return this.#explained(() => this.#db.exec(script));
  }

  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    return this.#explained(() =>
      this.#db.transaction((tx) => fn(new ServedEmbeddedDb(tx, this.#dataDir)))
    );
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  /** A lost connection is named for what it is: the monitor went away, not "PostgreSQL". */
  async #explained<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw monitorGone(this.#dataDir, error);
    }
  }
}
