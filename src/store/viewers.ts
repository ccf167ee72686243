/**
 * Viewer peaks of open sessions (`stream_sessions.peak_viewers`), written once per poll pass for every
 * streamer of the pass in one statement; `streamers history --json` and the streamer page read them back.
 */
import type { Db } from "./db.ts";

/**
 * Raises each open session's `peak_viewers` to the count seen, by slug (one statement for the whole pass).
 * The streamers' rows are locked in id order first, as every statement that locks several streamers does
 * (Store.markChecked): the writer locks the same rows in id order before it opens or closes a session, so a
 * session row is only ever locked by whoever holds its streamer's row, and no cycle can form. Rows whose peak
 * would not change are not rewritten. A session that is not open (yet) is left alone: the next pass finds it.
 */
export async function recordPeakViewers(
  db: Db,
  peaks: ReadonlyMap<string, number>,
): Promise<void> {
  if (peaks.size === 0) return;
  await db.query(
    `WITH seen AS (
       SELECT * FROM unnest($1::text[], $2::int[]) AS v(slug, viewers)
     ), locked AS (
       SELECT s.id, seen.viewers
         FROM streamers s JOIN seen ON seen.slug = s.slug
        ORDER BY s.id
          FOR NO KEY UPDATE OF s
     )
     UPDATE stream_sessions AS x
        SET peak_viewers = greatest(coalesce(x.peak_viewers, 0), locked.viewers)
       FROM locked
      WHERE x.streamer_id = locked.id AND x.ended_at IS NULL
        AND x.peak_viewers IS DISTINCT FROM greatest(coalesce(x.peak_viewers, 0), locked.viewers)`,
    [[...peaks.keys()], [...peaks.values()]],
  );
}
