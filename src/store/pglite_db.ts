/**
 * The embedded PostgreSQL (PGlite) behind db.ts's Db interface. PGlite is one database session in this
 * process. Besides this process's own queries, the daemon lends that session to the commands that reach the
 * embedded database through its socket (embedded_server.ts); a mutex (`session`) says who has it, for a whole
 * transaction at a time, so nobody's statements ever land inside somebody else's transaction.
 */
import {
  parse as pgliteParse,
  PGlite,
  protocol,
  type Transaction as PgliteTransaction,
} from "@electric-sql/pglite";
import { UnavailableError } from "../lib/errors.ts";
import { Mutex } from "../lib/mutex.ts";
import { type Db, errorMessage, INT8_OID } from "./db.ts";
import { concat } from "./wire.ts";

/** Options of `openPglite`. */
export interface PgliteOptions {
  /** Start from this data directory image (`dumpDataDir()`) instead of running initdb; tests use it. */
  template?: Blob;
}

/**
 * Opens the embedded PostgreSQL in `dir` (created with mode 0700), or in memory when `dir` is undefined.
 * Throws UnavailableError when the data directory cannot be used.
 */
export async function openPglite(dir?: string, options: PgliteOptions = {}): Promise<PgliteDb> {
  try {
    if (dir !== undefined) {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      // mkdir's mode is filtered by the umask and not applied to an existing directory.
      await Deno.chmod(dir, 0o700);
    }
    const pg = await PGlite.create({
      dataDir: dir,
      loadDataDir: options.template,
      parsers: { [INT8_OID]: (value: string) => Number(value) },
    });
    if (dir !== undefined) restrictTree(dir);
    await pg.exec(SESSION_DEFAULTS);
    const db = new PgliteDb(pg, pg);
    db.dataDir = dir;
    return db;
  } catch (error) {
    const where = dir === undefined ? "in memory" : `in ${JSON.stringify(dir)}`;
    throw new UnavailableError(
      `Cannot open the embedded database ${where}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/**
 * What DISCARD ALL does but DEALLOCATE ALL (another client's prepared statements stay): whatever a socket
 * client set for the session is undone, so the monitor's queries never run with a client's search_path, role
 * or temporary tables (a temporary `streamers` would hide the real one).
 */
const RESET_SESSION = [
  "CLOSE ALL;",
  "SET SESSION AUTHORIZATION DEFAULT;",
  "RESET ALL;",
  "UNLISTEN *;",
  "SELECT pg_advisory_unlock_all();",
  "DISCARD TEMP;",
].join(" ");

/**
 * Settings of the one session, at open and again after each socket client's turn (`restore()`). Every
 * execution of a prepared statement is planned for its own parameters and the tables as they are now
 * (force_custom_plan): a generic plan is cached until something invalidates it, so one made while a table
 * was small (a fresh database) kept reading the whole table as it grew; with 2,000 streamers, finding a
 * batch's open sessions took 12 ms instead of 0.7. Planning each time is what PGlite's query() did anyway;
 * the prepared statement still saves the parsing and five of its six calls into the backend.
 */
const SESSION_DEFAULTS = "SET plan_cache_mode = force_custom_plan;";

/** How many of this process's statements stay prepared; past it, a new text runs unprepared (PGlite's own path). */
const MAX_PREPARED = 256;

/** Prepared statements' names start with this, so `restore()` can tell ours from a socket client's. */
const PREPARED_PREFIX = "kick_monitor_q";

/** A statement this process prepared: its name and its parameters' type OIDs (for serialising values). */
interface Prepared {
  name: string;
  paramTypes: number[];
}

/**
 * This process's prepared statements, by text, shared by a PgliteDb and its transactions. PGlite's `query()`
 * makes six calls into the WASM backend per statement (parse, describe, bind, describe, execute, sync) and
 * parses it every time; a statement prepared once and then run as one bind–describe–execute–sync message
 * skips both (still planned each time: SESSION_DEFAULTS). Measured: a SELECT 204 → 62 µs.
 */
class PreparedStatements {
  readonly #byText = new Map<string, Prepared>();
  /** Names forgotten while their transaction was aborted; closed with the next statement prepared. */
  #stale: string[] = [];
  #counter = 0;

  get(text: string): Prepared | undefined {
    return this.#byText.get(text);
  }

  /** A name for a new statement, or null when the cache is full. */
  nextName(): string | null {
    return this.#byText.size >= MAX_PREPARED ? null : `${PREPARED_PREFIX}${++this.#counter}`;
  }

  add(text: string, prepared: Prepared): void {
    this.#byText.set(text, prepared);
  }

  /**
   * Forgets `text`'s statement. The server may still hold it (a 0A000 leaves it in place, inside a
   * transaction that is now aborted and can run nothing): its name waits for {@link takeStale}.
   */
  delete(text: string): void {
    const prepared = this.#byText.get(text);
    this.#byText.delete(text);
    if (prepared !== undefined) this.#stale.push(prepared.name);
  }

  /** The forgotten names not yet closed on the server; the caller closes them. */
  takeStale(): string[] {
    return this.#stale.splice(0);
  }

  /** Forgets the statements no longer in `present` (a socket client ran DEALLOCATE ALL or DISCARD ALL). */
  keepOnly(present: Set<string>): void {
    for (const [text, { name }] of this.#byText) {
      if (!present.has(name)) this.#byText.delete(text);
    }
  }
}

/** SQLSTATEs after which a prepared statement must be prepared again: gone (26000), or its result type changed. */
const STALE_STATEMENT = new Set(["26000", "0A000"]);

/**
 * The one session, lent to a client of the daemon's socket (embedded_server.ts) until `release()`: nothing
 * else runs on the database meanwhile.
 */
export interface PgliteSession {
  /** Runs raw frontend protocol messages and returns PGlite's raw answer. */
  exchange(message: Uint8Array): Promise<Uint8Array>;
  /** Runs a script (for resetting the session between clients). */
  exec(script: string): Promise<void>;
  /** Runs one statement and returns its rows. */
  query<T>(text: string, params?: unknown[]): Promise<T[]>;
  /** Whether the session is inside a transaction block now. */
  inTransaction(): boolean;
  /**
   * Puts the session back as this process left it (RESET_SESSION, then the settings of
   * `configureSession`). Only outside a transaction.
   */
  restore(): Promise<void>;
  /** Gives the session back. */
  release(): void;
}

/**
 * The PGlite backend: one session, shared in turns (`session`) by this process's callers and the daemon's
 * socket clients; a transaction keeps it for its whole length.
 */
export class PgliteDb implements Db {
  readonly kind = "pglite" as const;
  readonly #pg: PGlite;
  readonly #target: PGlite | PgliteTransaction;
  readonly #savepointDepth: number;
  /** Who has the session: one top-level statement or transaction at a time, or one socket client's turn. */
  readonly #session: Mutex;
  readonly #prepared: PreparedStatements;
  /** Session settings that `PgliteSession.restore()` puts back (the search_path of a schema). */
  #sessionSetup = "";
  /** The data directory, whose files are made private again on close; undefined in memory. */
  dataDir: string | undefined;

  /** A Db over a PGlite instance, or a transaction (at a savepoint depth) of it sharing `session`. */
  constructor(
    pg: PGlite,
    target: PGlite | PgliteTransaction,
    options: { savepointDepth?: number; session?: Mutex; prepared?: PreparedStatements } = {},
  ) {
    this.#pg = pg;
    this.#target = target;
    this.#savepointDepth = options.savepointDepth ?? 0;
    this.#session = options.session ?? new Mutex();
    this.#prepared = options.prepared ?? new PreparedStatements();
  }

  /** Runs one statement (the extended protocol; parameters are typed by the server), prepared once. */
  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return await this.#inTurn(async () => {
      // PGlite's query lock, as its own query() takes: the socket's clients run under it too.
      const rows = await this.#pg.runExclusive(async () => {
        const prepared = this.#prepared.get(text) ?? await this.#prepare(text);
        return prepared === null ? null : await this.#runPrepared<T>(text, prepared, params);
      });
      return rows ?? (await this.#target.query<T>(text, params)).rows;
    });
  }

  /**
   * Prepares `text` under a new name and learns its parameters' types; null when the cache is full. A
   * statement that does not parse throws here, as `query()` would, and is not kept.
   */
  async #prepare(text: string): Promise<Prepared | null> {
    const name = this.#prepared.nextName();
    if (name === null) return null;
    const { serialize } = protocol;
    // A statement forgotten after an error is closed here, in a transaction that runs (Close of a name the
    // server no longer has, after a 26000, is no error): otherwise it stays until the process ends.
    const stale = this.#prepared.takeStale().map((old) =>
      serialize.close({ type: "S", name: old })
    );
    const { messages } = await this.#pg.execProtocol(
      concat([
        ...stale,
        serialize.parse({ name, text }),
        serialize.describe({ type: "S", name }),
        serialize.sync(),
      ]),
      { syncToFs: false },
    );
    const prepared = { name, paramTypes: pgliteParse.parseDescribeStatementResults(messages) };
    this.#prepared.add(text, prepared);
    return prepared;
  }

  /** One bind–describe–execute–sync message; values are serialised by type as PGlite's `query()` does. */
  async #runPrepared<T>(text: string, prepared: Prepared, params: unknown[]): Promise<T[]> {
    const pg = this.#pg;
    const values = params.map((value, index) => {
      if (value === null || value === undefined) return null;
      const serializer = pg.serializers[prepared.paramTypes[index]];
      return serializer === undefined ? String(value) : serializer(value);
    });
    const { serialize } = protocol;
    try {
      const { messages } = await pg.execProtocol(
        concat([
          serialize.bind({ statement: prepared.name, values }),
          serialize.describe({ type: "P" }),
          serialize.execute({}),
          serialize.sync(),
        ]),
        // Outside a transaction PGlite's query() flushes to the file system after each statement; so do we.
        { syncToFs: this.#isRoot() },
      );
      return (pgliteParse.parseResults(messages, pg.parsers)[0]?.rows ?? []) as T[];
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && STALE_STATEMENT.has(code)) this.#prepared.delete(text);
      throw error;
    }
  }

  /** Runs a multi-statement script. */
  async exec(script: string): Promise<void> {
    await this.#inTurn(() => this.#target.exec(script));
  }

  /** A PGlite transaction, or a savepoint when already in one (PGlite has no nested transactions). */
  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    if (this.#isRoot()) {
      return await this.#session.run(() =>
        this.#pg.transaction((tx) =>
          fn(new PgliteDb(this.#pg, tx, { session: this.#session, prepared: this.#prepared }))
        )
      );
    }
    const depth = this.#savepointDepth + 1;
    const name = `kick_monitor_sp_${depth}`;
    await this.#target.exec(`SAVEPOINT ${name}`);
    try {
      const result = await fn(
        new PgliteDb(this.#pg, this.#target, {
          savepointDepth: depth,
          session: this.#session,
          prepared: this.#prepared,
        }),
      );
      await this.#target.exec(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      await this.#target.exec(`ROLLBACK TO SAVEPOINT ${name}`);
      throw error;
    }
  }

  /** Runs session settings (`SET …`) now, and again whenever a socket client's turn ends. */
  async configureSession(script: string): Promise<void> {
    await this.exec(script);
    this.#sessionSetup = script;
  }

  /** Waits for the session and lends it out until `release()` (embedded_server.ts). */
  async lease(): Promise<PgliteSession> {
    const release = await this.#session.acquire();
    const pg = this.#pg;
    const setup = this.#sessionSetup;
    const prepared = this.#prepared;
    return {
      exchange: (message) => pg.runExclusive(() => pg.execProtocolRaw(message)),
      exec: async (script) => {
        await pg.exec(script);
      },
      query: async <T>(text: string, params: unknown[] = []) =>
        (await pg.query<T>(text, params)).rows,
      inTransaction: () => pg.isInTransaction(),
      restore: async () => {
        await pg.exec(`${RESET_SESSION}${SESSION_DEFAULTS}${setup}`);
        // A client may have dropped this process's prepared statements (DEALLOCATE ALL, DISCARD ALL).
        const { rows } = await pg.query<{ name: string }>(
          "SELECT name FROM pg_prepared_statements WHERE starts_with(name, $1)",
          [PREPARED_PREFIX],
        );
        prepared.keepOnly(new Set(rows.map((row) => row.name)));
      },
      release,
    };
  }

  /** Closes the database (flushing it to disk); no-op inside a transaction. */
  async close(): Promise<void> {
    if (!this.#isRoot() || this.#pg.closed) return;
    await this.#pg.close();
    try {
      if (this.dataDir !== undefined) restrictTree(this.dataDir);
    } catch {
      // Best effort: the 0700 directory already keeps the files private.
    }
  }

  #isRoot(): boolean {
    return this.#target === this.#pg;
  }

  /** A top-level statement waits for its turn; one inside a transaction already has it. */
  #inTurn<T>(fn: () => Promise<T>): Promise<T> {
    return this.#isRoot() ? this.#session.run(fn) : fn();
  }
}

/**
 * Makes every file under `dir` 0600 and every directory 0700. PGlite's file system layer creates its files 0666
 * whatever the umask, so this runs after it opens (and after it closes, for the files it added meanwhile; the
 * 0700 directory keeps them private in between).
 */
function restrictTree(dir: string): void {
  if (Deno.build.os === "windows") return;
  // Synchronous calls: about a thousand small files, where async calls cost several times more.
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isSymlink) continue;
    const path = `${dir}/${entry.name}`;
    const { mode } = Deno.lstatSync(path);
    const wanted = entry.isDirectory ? 0o700 : 0o600;
    if (mode !== null && (mode & 0o777) !== wanted) Deno.chmodSync(path, wanted);
    if (entry.isDirectory) restrictTree(path);
  }
}
