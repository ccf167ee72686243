/**
 * What the write path leaves in the database, for comparing two stores: every event, session and streamer
 * status, without generated ids and insertion times.
 */
import type { Store } from "../../src/store/store.ts";

/** The rows `applyTransitions` writes, in a stable order. */
export async function snapshotRows(store: Store): Promise<unknown> {
  const events = await store.db.query(
    `SELECT s.slug, e.type, e.occurred_at, e.received_at, e.source, e.livestream_id, e.title,
            e.category, e.raw, e.dedupe_key
       FROM status_events e JOIN streamers s ON s.id = e.streamer_id
      ORDER BY e.dedupe_key`,
  );
  const sessions = await store.db.query(
    `SELECT s.slug, x.livestream_id, x.started_at, x.ended_at, x.title, x.category
       FROM stream_sessions x JOIN streamers s ON s.id = x.streamer_id
      ORDER BY s.slug, x.started_at, x.ended_at NULLS LAST`,
  );
  const streamers = await store.db.query(
    "SELECT slug, status, status_changed_at FROM streamers ORDER BY slug",
  );
  return { events, sessions, streamers };
}
