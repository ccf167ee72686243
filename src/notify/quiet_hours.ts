/**
 * Quiet hours in an IANA time zone: parsing `--quiet-hours HH:MM-HH:MM` and `--timezone`, and deciding until
 * when a notification waits. Pure; the clock is a parameter. Uses Intl only (no time zone database of ours).
 */
import type { QuietHours } from "./types.ts";

const RANGE = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * Parses `HH:MM-HH:MM` (24-hour clock; `22:00-07:00` spans midnight). Throws a RangeError naming the
 * argument when it is malformed or empty (start equal to end).
 *
 * @example
 * ```ts
 * parseQuietHours("22:00-07:30"); // { startMinute: 1320, endMinute: 450 }
 * ```
 */
export function parseQuietHours(text: string): QuietHours {
  const match = RANGE.exec(text.trim());
  if (match === null) {
    throw new RangeError(
      `--quiet-hours must look like 22:00-07:00 (24-hour HH:MM-HH:MM), got ${JSON.stringify(text)}`,
    );
  }
  const startMinute = Number(match[1]) * 60 + Number(match[2]);
  const endMinute = Number(match[3]) * 60 + Number(match[4]);
  if (startMinute === endMinute) {
    throw new RangeError(`--quiet-hours must not start and end at the same time, got ${text}`);
  }
  return { startMinute, endMinute };
}

/** `HH:MM-HH:MM` of quiet hours, as `parseQuietHours` reads it. */
export function formatQuietHours(quiet: QuietHours): string {
  const hhmm = (m: number) =>
    `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  return `${hhmm(quiet.startMinute)}-${hhmm(quiet.endMinute)}`;
}

/**
 * The canonical name of an IANA time zone (`europe/berlin` → `Europe/Berlin`); throws a RangeError naming
 * `--timezone` for a zone Intl does not know.
 */
export function validateTimeZone(zone: string): string {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    throw new RangeError(
      `--timezone must be an IANA time zone such as Europe/Berlin or America/New_York, got ${
        JSON.stringify(zone)
      }`,
    );
  }
}

/** Minutes after local midnight of `at` in `zone`, with the seconds and milliseconds within that minute. */
function localMinute(at: Date, zone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    hour: "2-digit",
    minute: "2-digit",
  }).formatToParts(at);
  const hour = Number(parts.find((p) => p.type === "hour")?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === "minute")?.value ?? 0);
  return hour * 60 + minute;
}

/** Whether local minute `m` falls inside the quiet hours (start included, end excluded). */
export function inQuietHours(m: number, quiet: QuietHours): boolean {
  return quiet.startMinute < quiet.endMinute
    ? m >= quiet.startMinute && m < quiet.endMinute
    : m >= quiet.startMinute || m < quiet.endMinute;
}

/**
 * When a notification at `now` may go out: null when `now` is outside the quiet hours (send now), else the
 * instant the quiet hours end in `zone` (UTC when null). Counted in local wall-clock minutes from `now`, so a
 * daylight-saving change inside the quiet hours moves the end by that hour at most.
 *
 * @example
 * ```ts
 * holdUntil(new Date("2026-01-10T23:30:00Z"), { startMinute: 1320, endMinute: 420 }, "UTC");
 * // 2026-01-11T07:00:00.000Z
 * ```
 */
export function holdUntil(now: Date, quiet: QuietHours | null, zone: string | null): Date | null {
  if (quiet === null) return null;
  const local = localMinute(now, zone ?? "UTC");
  if (!inQuietHours(local, quiet)) return null;
  const minutesLeft = (quiet.endMinute - local + 1440) % 1440;
  const startOfMinute = now.getTime() - (now.getTime() % 60_000);
  return new Date(startOfMinute + minutesLeft * 60_000);
}
