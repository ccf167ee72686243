/**
 * Notification targets (sql/003_notifications.sql, `notify add|list|remove`): where notifications go, as
 * functions over a Db. Their deliveries are src/store/notifications.ts.
 */
import type { Db } from "./db.ts";
import { UserFacingError } from "../lib/errors.ts";
import type { EventKind, NotificationTarget, QuietHours, TargetKind } from "../notify/types.ts";

// Part of this module's own signatures, so its readers need not look elsewhere.
export { EVENT_KINDS, TARGET_KINDS } from "../notify/types.ts";
export type { EventKind, NotificationTarget, QuietHours, TargetKind };

/** A target to add (`notify add`). */
export type NewTarget = Omit<NotificationTarget, "id" | "createdAt">;

const TARGET_COLUMNS = `
  t.id, t.name, t.kind, t.url, array_to_json(t.streamer_ids) AS streamer_ids,
  array_to_json(t.events) AS events, t.mention, t.template_online, t.template_offline,
  t.quiet_start, t.quiet_end, t.timezone, t.secret, t.created_at`;

interface TargetRow {
  id: number;
  name: string;
  kind: TargetKind;
  url: string;
  streamer_ids: number[] | string | null;
  events: EventKind[] | string;
  mention: string | null;
  template_online: string | null;
  template_offline: string | null;
  quiet_start: number | null;
  quiet_end: number | null;
  timezone: string | null;
  secret: string | null;
  created_at: Date;
}

/** json columns arrive parsed from postgres.js and as text from some PGlite paths. */
function json<T>(value: T | string): T {
  return typeof value === "string" ? JSON.parse(value) as T : value;
}

function toTarget(row: TargetRow): NotificationTarget {
  const quietHours: QuietHours | null = row.quiet_start === null || row.quiet_end === null
    ? null
    : { startMinute: row.quiet_start, endMinute: row.quiet_end };
  return {
    id: Number(row.id),
    name: row.name,
    kind: row.kind,
    url: row.url,
    streamerIds: row.streamer_ids === null ? null : json(row.streamer_ids).map(Number),
    events: json(row.events),
    mention: row.mention,
    templateOnline: row.template_online,
    templateOffline: row.template_offline,
    quietHours,
    timezone: row.timezone,
    secret: row.secret,
    createdAt: row.created_at,
  };
}

/** Stores a target; throws UserFacingError (exit 1) when the name is taken. */
export async function addTarget(db: Db, target: NewTarget): Promise<NotificationTarget> {
  try {
    const rows = await db.query<TargetRow>(
      `INSERT INTO notification_targets AS t
              (name, kind, url, streamer_ids, events, mention, template_online, template_offline,
               quiet_start, quiet_end, timezone, secret)
       VALUES ($1, $2, $3, (SELECT array_agg(v::bigint) FROM jsonb_array_elements_text($4::text::jsonb) v),
               (SELECT array_agg(v) FROM jsonb_array_elements_text($5::text::jsonb) v),
               $6, $7, $8, $9, $10, $11, $12)
       RETURNING ${TARGET_COLUMNS}`,
      [
        target.name,
        target.kind,
        target.url,
        target.streamerIds === null ? null : JSON.stringify(target.streamerIds),
        JSON.stringify(target.events),
        target.mention,
        target.templateOnline,
        target.templateOffline,
        target.quietHours?.startMinute ?? null,
        target.quietHours?.endMinute ?? null,
        target.timezone,
        target.secret,
      ],
    );
    return toTarget(rows[0]);
  } catch (error) {
    if ((error as { code?: unknown }).code === "23505") {
      throw new UserFacingError(
        `A notification target named ${JSON.stringify(target.name)} already exists ` +
          "(remove it first: kick-monitor notify remove NAME)",
      );
    }
    throw error;
  }
}

/** Every target, by name. */
export async function listTargets(db: Db): Promise<NotificationTarget[]> {
  const rows = await db.query<TargetRow>(
    `SELECT ${TARGET_COLUMNS} FROM notification_targets t ORDER BY t.name`,
  );
  return rows.map(toTarget);
}

/** The target named `name`, or null. */
export async function getTarget(db: Db, name: string): Promise<NotificationTarget | null> {
  const rows = await db.query<TargetRow>(
    `SELECT ${TARGET_COLUMNS} FROM notification_targets t WHERE t.name = $1`,
    [name],
  );
  return rows.length === 0 ? null : toTarget(rows[0]);
}

/** Removes a target and its deliveries; false when there was none of that name. */
export async function removeTarget(db: Db, name: string): Promise<boolean> {
  const rows = await db.query<{ id: number }>(
    `DELETE FROM notification_targets WHERE name = $1 RETURNING id`,
    [name],
  );
  return rows.length > 0;
}
