/**
 * The one-monitor-per-database lock (until leases replace it, issue 16): on PostgreSQL a session-level
 * advisory lock on a connection reserved for as long as it is held; on PGlite, a no-op, since PGlite is one
 * process and its data directory's file lock is the whole story.
 */
import { withTimeout } from "../lib/timeout.ts";
import { log } from "../lib/log.ts";
import { type Db, PostgresDb } from "./db.ts";

/** A held monitor lock. */
export interface MonitorLock {
  /**
   * Whether the lock is still ours: "lost" when its connection dropped (the server released it with the
   * session), "unknown" when the database cannot be asked right now.
   */
  check(): Promise<"held" | "lost" | "unknown">;
  /** Releases the lock and its connection. */
  release(): Promise<void>;
}

// Advisory lock class of the monitor lock (the second key is database + schema). Differs from migrate.ts's.
const MONITOR_LOCK_CLASS = 0x6b6d0002;

/** Takes the monitor lock of `db`'s database and schema; null when another process holds it. */
export async function tryAcquireMonitorLock(db: Db): Promise<MonitorLock | null> {
  if (!(db instanceof PostgresDb)) {
    // PGlite is one process: the data directory's file lock is the whole story.
    return { check: () => Promise.resolve("held"), release: () => Promise.resolve() };
  }
  const connection = await db.reserve();
  const key = "hashtext(current_database() || '.' || coalesce(current_schema(), ''))";
  let acquired = false;
  try {
    const [row] = await connection.query<{ acquired: boolean }>(
      `SELECT pg_try_advisory_lock($1::int, ${key}) AS acquired`,
      [MONITOR_LOCK_CLASS],
    );
    acquired = row.acquired;
  } finally {
    if (!acquired) await connection.release();
  }
  if (!acquired) return null;
  let released = false;
  // Set once a check finds the lock gone: there is nothing to unlock, and the dead connection may not answer.
  let lost = false;
  return {
    check: async () => {
      if (released) return "lost";
      try {
        // The pool may have reopened the reserved connection under us: ask whether *this* session holds it.
        const [row] = await withTimeout(
          connection.query<{ held: boolean }>(
            `SELECT EXISTS (
               SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                  AND classid = $1::int::oid AND objsubid = 2) AS held`,
            [MONITOR_LOCK_CLASS],
          ),
          3_000,
          "checking the monitor lock",
        );
        lost = !row.held;
        return row.held ? "held" : "lost";
      } catch {
        // The lock's connection fails: if the database answers on another one, that connection is gone.
        try {
          await withTimeout(db.query("SELECT 1"), 3_000, "reaching the database");
          lost = true;
          return "lost";
        } catch {
          return "unknown";
        }
      }
    },
    release: async (): Promise<void> => {
      if (released) return;
      released = true;
      if (lost) return await connection.release();
      try {
        // A connection lost mid-outage can leave this query unanswered; the lock dies with the session anyway.
        await withTimeout(
          connection.query(`SELECT pg_advisory_unlock($1::int, ${key})`, [MONITOR_LOCK_CLASS]),
          3_000,
          "releasing the monitor lock",
        );
      } catch (error) {
        // A lost connection has dropped the lock already.
        log.warn("Could not release the monitor lock", { error });
      } finally {
        await connection.release();
      }
    },
  };
}
