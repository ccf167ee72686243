/**
 * Upkeep of the embedded database: what PostgreSQL's autovacuum does, which PGlite lacks. PGlite runs one
 * backend without the autovacuum launcher: `SHOW autovacuum` says "on" and nothing ever runs. So, untended,
 * the planner never learns a table's size (with 1,000 streamers it read the whole table for each batch's 13
 * slugs, 0.40 ms and growing with the table, where an index scan after ANALYZE takes 0.08 ms; bench 2), and
 * the rows that closing a session or changing a status leaves behind are never reclaimed (20,000 dead
 * session rows after 20,000 closes).
 *
 * The daemon asks the statistics every minute (autovacuum_naptime's default) which tables cross autovacuum's
 * default thresholds (`planUpkeep`, pure) and vacuums or analyzes those, one statement at a time, so the
 * writer's transactions get the session in between (a vacuum of 20,000 dead rows took ~100 ms).
 * PostgreSQL (`DATABASE_URL`) runs its own autovacuum: nothing here runs there.
 */
import type { Db } from "./db.ts";
import { quoteIdentifier } from "./db.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";

/** What the statistics say of one table (pg_stat_user_tables, and the age of its oldest unfrozen row). */
export interface TableActivity {
  /** The table's schema. */
  schema: string;
  /** The table's name. */
  table: string;
  /** n_live_tup. */
  live: number;
  /** n_dead_tup. */
  dead: number;
  /** n_mod_since_analyze. */
  modifiedSinceAnalyze: number;
  /** n_ins_since_vacuum. */
  insertedSinceVacuum: number;
  /** age(relfrozenxid), in transactions. */
  xidAge: number;
}

/** One table's upkeep. */
export interface UpkeepStep {
  /** The table's schema. */
  schema: string;
  /** The table's name. */
  table: string;
  /** Whether to VACUUM it (dead rows, inserts or transaction age past autovacuum's thresholds). */
  vacuum: boolean;
  /** Whether to ANALYZE it (rows changed since the last analyze past autovacuum's threshold). */
  analyze: boolean;
}

/**
 * PostgreSQL's defaults for autovacuum (runtime-config-autovacuum): a table is vacuumed when its dead rows
 * pass 50 + 20% of its rows, or its rows inserted since the last vacuum pass 1,000 + 20% (so an append-only
 * table's pages are frozen and marked all-visible), or its oldest row is 200 million transactions old; it is
 * analyzed when its rows changed since the last analyze pass 50 + 10%.
 */
export const AUTOVACUUM_DEFAULTS = {
  vacuumThreshold: 50,
  vacuumScale: 0.2,
  insertThreshold: 1000,
  insertScale: 0.2,
  analyzeThreshold: 50,
  analyzeScale: 0.1,
  freezeMaxAge: 200_000_000,
} as const;

/** The tables to vacuum or analyze now, by autovacuum's rules (`AUTOVACUUM_DEFAULTS`); pure. */
export function planUpkeep(
  tables: readonly TableActivity[],
  limits: typeof AUTOVACUUM_DEFAULTS = AUTOVACUUM_DEFAULTS,
): UpkeepStep[] {
  return tables.flatMap((t) => {
    const vacuum = t.dead > limits.vacuumThreshold + limits.vacuumScale * t.live ||
      t.insertedSinceVacuum > limits.insertThreshold + limits.insertScale * t.live ||
      t.xidAge > limits.freezeMaxAge;
    const analyze = t.modifiedSinceAnalyze > limits.analyzeThreshold + limits.analyzeScale * t.live;
    return vacuum || analyze ? [{ schema: t.schema, table: t.table, vacuum, analyze }] : [];
  });
}

/** The statistics of the tables on the session's search path. */
export async function readTableActivity(db: Db): Promise<TableActivity[]> {
  const rows = await db.query<{
    schema: string;
    table: string;
    live: number;
    dead: number;
    modified: number;
    inserted: number;
    xid_age: number;
  }>(
    `SELECT s.schemaname AS schema, s.relname AS table, s.n_live_tup AS live, s.n_dead_tup AS dead,
            s.n_mod_since_analyze AS modified, s.n_ins_since_vacuum AS inserted,
            age(c.relfrozenxid)::int8 AS xid_age
       FROM pg_stat_user_tables s
       JOIN pg_class c ON c.oid = s.relid
      WHERE s.schemaname = ANY (current_schemas(false))
      ORDER BY s.relname`,
  );
  return rows.map((r) => ({
    schema: r.schema,
    table: r.table,
    live: Number(r.live),
    dead: Number(r.dead),
    modifiedSinceAnalyze: Number(r.modified),
    insertedSinceVacuum: Number(r.inserted),
    xidAge: Number(r.xid_age),
  }));
}

/** Runs the upkeep the statistics ask for now; returns the steps taken. */
export async function runUpkeep(db: Db): Promise<UpkeepStep[]> {
  const steps = planUpkeep(await readTableActivity(db));
  for (const step of steps) {
    const name = `${quoteIdentifier(step.schema)}.${quoteIdentifier(step.table)}`;
    // VACUUM and ANALYZE apart: each is one turn of the session, and the writer may go in between.
    if (step.vacuum) await db.exec(`VACUUM ${name}`);
    if (step.analyze) await db.exec(`ANALYZE ${name}`);
  }
  return steps;
}

/** How often the statistics are asked (autovacuum_naptime's default). */
export const UPKEEP_INTERVAL_MS = 60_000;

/**
 * Starts the upkeep of an embedded database: once now, then every `intervalMs`; a no-op handle for PostgreSQL.
 * `stop()` waits for a round in progress, so the database can be closed after it.
 */
export function startEmbeddedUpkeep(
  db: Db,
  intervalMs = UPKEEP_INTERVAL_MS,
): { stop(): Promise<void> } {
  if (db.kind !== "pglite") return { stop: async () => {} };
  let round: Promise<void> = Promise.resolve();
  const tick = () => {
    round = round.then(async () => {
      try {
        const steps = await runUpkeep(db);
        if (steps.length > 0) log.debug("embedded database upkeep", { steps });
      } catch (error) {
        log.warn("embedded database upkeep failed; trying again later", {
          error: describeError(error),
        });
      }
    });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await round;
    },
  };
}
