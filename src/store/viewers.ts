/**
 * Viewer peaks of open sessions (`stream_sessions.peak_viewers`), written once per poll pass for every
 * streamer of the pass in one statement; `streamers history --json` and the streamer page read them back.
 */
import type { Db } from "./db.ts";

/**
 * Raises each open session's `peak_viewers` to the count seen, by slug (one statement for the whole pass),
 * and returns the slugs that had no open session: the pass that sees a streamer go live is the one whose
 * transition opens the session, and the writer commits it a moment later, so the caller places those again
 * once it has (monitor/viewer_counts.ts).
 *
 * The streamers' rows are locked in id order first, as every statement that locks several streamers does
 * (Store.markChecked): the writer locks the same rows in id order before it opens or closes a session, so a
 * session row is only ever locked by whoever holds its streamer's row, and no cycle can form. Rows whose
 * peak would not change are not rewritten. (A data-modifying WITH runs to completion whether or not the main
 * query reads it: PostgreSQL manual, "Data-Modifying Statements in WITH".)
 */
export async function recordPeakViewers(
  db: Db,
  peaks: ReadonlyMap<string, number>,
): Promise<string[]> {
  if (peaks.size === 0) return [];
  const rows = await db.query<{ slug: string }>(
    `WITH seen AS (
       SELECT * FROM unnest($1::text[], $2::int[]) AS v(slug, viewers)
     ), locked AS (
       SELECT s.id, s.slug, seen.viewers
         FROM streamers s JOIN seen ON seen.slug = s.slug
        ORDER BY s.id
          FOR NO KEY UPDATE OF s
     ), open AS (
       SELECT x.id, locked.slug, locked.viewers
         FROM stream_sessions x JOIN locked ON x.streamer_id = locked.id
        WHERE x.ended_at IS NULL
     ), raised AS (
       UPDATE stream_sessions AS x
          SET peak_viewers = greatest(coalesce(x.peak_viewers, 0), open.viewers)
         FROM open
        WHERE x.id = open.id
          AND x.peak_viewers IS DISTINCT FROM greatest(coalesce(x.peak_viewers, 0), open.viewers)
       RETURNING x.id
     )
     SELECT seen.slug FROM seen
      WHERE NOT EXISTS (SELECT 1 FROM open WHERE open.slug = seen.slug)`,
    [[...peaks.keys()], [...peaks.values()]],
  );
  return rows.map((row) => row.slug);
}
