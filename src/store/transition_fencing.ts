/**
 * The first statements of a transition batch (transitions.ts), and its fencing (issue 16): lock the batch's
 * streamers, with their lease rows when the transitions carry leases, then read their state in a statement of
 * its own; a transition whose lease is no longer the streamer's is refused.
 */
import type { Db } from "./db.ts";
import type { StreamerStatus, Transition } from "../domain/types.ts";

/** A streamer's stored state at the start of a batch, as `planBatch` needs it (the status machine's in-memory one is status_machine.ts's StreamerState). */
export interface StoredStreamerState {
  /** `streamers.id`. */
  id: number;
  /** The stored status. */
  status: StreamerStatus;
  /** When the stored status began, if known. */
  statusChangedAt: Date | null;
  /** Id of its open session (ended_at IS NULL), if any. */
  openSessionId: number | null;
}

/** A transition the database refused to record: written under a lease that is no longer the streamer's. */
export interface RefusedTransition {
  /** `streamers.id`. */
  streamerId: number;
  /** The refused transition (with the stale lease it carried). */
  transition: Transition;
  /** The streamer's current owner and epoch. */
  current: { owner: string | null; epoch: number };
}

/** A streamer's lease as a write is checked against. */
export interface StreamerLease {
  /** The owning instance, or null when free. */
  owner: string | null;
  /** The epoch writes under it must carry. */
  epoch: number;
}

/** Whether `t` may be recorded: unfenced (no lease), or its lease is still the streamer's. */
export function leaseHolds(t: Transition, current: StreamerLease): boolean {
  return t.lease === undefined ||
    (t.lease.instance === current.owner && t.lease.epoch === current.epoch);
}

/**
 * Locks the streamers' rows for the rest of the transaction, in id order, so concurrent batches cannot
 * deadlock (every statement that locks several streamers uses this order, see Store.markChecked). A
 * statement of its own, issued before the reads: a read in the same statement as the lock would see sessions
 * as they were before a concurrent batch (a handover, another monitor) committed, and could open a second
 * session.
 *
 * With `leases`, it also locks their lease rows FOR KEY SHARE and returns them: a claim (FOR UPDATE,
 * leases.ts) cannot change an epoch until this batch commits, and renewals (non-key updates) are not held up.
 */
export async function lockStreamers(
  db: Db,
  slugs: string[],
  options: { leases: boolean },
): Promise<Map<number, StreamerLease>> {
  if (!options.leases) {
    // PGlite is one session whose transactions run one at a time (pglite_db.ts): no other writer can change
    // these rows before the read, so the lock would be a statement (~1 ms there, bench 2) for nothing.
    if (db.kind === "pglite") return new Map();
    await db.query(
      "SELECT id FROM streamers WHERE slug = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE",
      [slugs],
    );
    return new Map();
  }
  const rows = await db.query<{ streamer_id: number; owner: string | null; epoch: number }>(
    `SELECT l.streamer_id, l.owner, l.epoch
       FROM streamers s JOIN streamer_leases l ON l.streamer_id = s.id
      WHERE s.slug = ANY($1::text[])
      ORDER BY s.id
        FOR NO KEY UPDATE OF s FOR KEY SHARE OF l`,
    [slugs],
  );
  return new Map(rows.map((row) => [row.streamer_id, { owner: row.owner, epoch: row.epoch }]));
}

/** Reads the (locked) streamers' status and open session, by slug. */
export async function readStreamers(
  db: Db,
  slugs: string[],
): Promise<Map<string, StoredStreamerState>> {
  const rows = await db.query<StoredStreamerState & { slug: string }>(
    // The open session by a probe of its unique index per streamer, not a join: a join's plan depends on
    // what the planner believes of stream_sessions, and a prepared statement's generic plan made while that
    // belief was wrong (a table never analyzed: PGlite has no autovacuum) read every open session for each
    // streamer of each batch (bench 2, 2,000 streamers: 13,000 rows compared per batch).
    `SELECT s.id, s.slug, s.status, s.status_changed_at AS "statusChangedAt",
            (SELECT o.id FROM stream_sessions o WHERE o.streamer_id = s.id AND o.ended_at IS NULL)
              AS "openSessionId"
       FROM streamers s
      WHERE s.slug = ANY($1::text[])`,
    [slugs],
  );
  return new Map(rows.map((row) => [row.slug, row]));
}
