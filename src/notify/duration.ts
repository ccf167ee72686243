/** How long a stream lasted, as people read it in a notification: "3 h 12 min". Pure. */

/**
 * Formats a duration in milliseconds: "under 1 min", "45 min", "3 h 12 min", "3 h", "2 d 4 h". Minutes are
 * rounded down (a stream of 59 min 59 s "was live for 59 min"); a negative duration reads as "under 1 min".
 *
 * @example
 * ```ts
 * formatDuration((3 * 60 + 12) * 60_000); // "3 h 12 min"
 * ```
 */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 1) return "under 1 min";
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return rest > 0 ? `${hours} h ${rest} min` : `${hours} h`;
  return `${rest} min`;
}

/**
 * Formats a delivery's latency (from the event being recorded to the service accepting the message): "85 ms",
 * "2.4 s", then as {@link formatDuration} from a minute on. Pure.
 *
 * @example
 * ```ts
 * formatLatency(2_430); // "2.4 s"
 * ```
 */
export function formatLatency(ms: number): string {
  const value = Math.max(0, ms);
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(Math.floor(value / 100) / 10).toFixed(1)} s`;
  return formatDuration(value);
}
