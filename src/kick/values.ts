/**
 * The two value readers every Kick payload shares, whatever it came through (official API, legacy API,
 * Pusher event, webhook): one id schema and one timestamp parser.
 */
import { z } from "zod";

/**
 * An integer id. The spec and most libraries use integers; kient types `broadcaster_user_id` as a string
 * (kick-api.md §5 item 11), so a string of digits is accepted too.
 */
export const kickIdSchema = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+$/).transform(Number),
]).refine((value) => Number.isSafeInteger(value), { message: "expected a safe integer id" });

const KICK_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * A Kick timestamp as a Date, or null when missing, unreadable or a placeholder before 1970 (offline streams
 * may carry a zero time, kick-api.md §1.4). Kick writes `2025-09-14T23:18:20.000000Z` (Laravel, microseconds),
 * `2025-01-01T11:00:00+11:00` (official API) and the zone-less `2024-02-06 19:10:40` of older and legacy
 * payloads, which is UTC (§3.5).
 */
export function parseKickTime(value: string | null | undefined): Date | null {
  if (value === null || value === undefined) return null;
  const match = KICK_TIMESTAMP.exec(value.trim());
  if (match === null) return null;
  const fraction = match[3] ? match[3].slice(0, 4) : "";
  const rawZone = match[4] ?? "Z";
  const zone = rawZone.length === 5 ? `${rawZone.slice(0, 3)}:${rawZone.slice(3)}` : rawZone;
  const ms = Date.parse(`${match[1]}T${match[2]}${fraction}${zone}`);
  return Number.isNaN(ms) || ms < 0 ? null : new Date(ms);
}
