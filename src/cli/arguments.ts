/** Parsers for command-line values: each rejects bad input with a UsageError (exit 2) naming the argument. */
import { UsageError } from "../lib/errors.ts";
import { parseEventTypes } from "../domain/event_types.ts";
import type { TransitionType } from "../domain/types.ts";

/**
 * A whole number in [min, max]. Every mistake (not a number, a sign, out of range) gets the same message, so
 * `--limit 0` and `--limit -1` read alike.
 */
export function parseIntegerArgument(
  name: string,
  value: string,
  min: number,
  max: number,
): number {
  const trimmed = value.trim();
  const n = Number(trimmed);
  if (!/^[+-]?\d+$/.test(trimmed) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * An ISO 8601 date or date-time. Impossible dates (2026-02-30, 2026-13-01, 25:00) are refused: JavaScript's
 * Date would roll them over into the next month or day, so each field is checked against its calendar range.
 */
export function parseDateArgument(name: string, value: string): Date {
  const match = ISO_DATE.exec(value.trim());
  const date = new Date(value.trim());
  if (match === null || Number.isNaN(date.getTime()) || !fieldsInRange(match)) {
    throw new UsageError(
      `${name} must be an ISO 8601 date such as 2026-11-25 or 2026-11-25T18:00:00Z, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return date;
}

function fieldsInRange(match: RegExpExecArray): boolean {
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (month < 1 || month > 12 || day < 1) return false;
  // Day 0 of the next month is the last day of this one.
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return false;
  if (match[4] === undefined) return true;
  const [hour, minute, second] = [Number(match[4]), Number(match[5]), Number(match[6] ?? 0)];
  return hour <= 23 && minute <= 59 && second <= 59;
}

export { isoOrNull } from "../domain/documents.ts";

/** `--types online,offline,title`: the event types a listing shows (src/domain/event_types.ts). */
export function parseTypesArgument(value: string): TransitionType[] {
  const parsed = parseEventTypes(value);
  if ("problem" in parsed) throw new UsageError(`--types: ${parsed.problem}`);
  return parsed.types;
}
