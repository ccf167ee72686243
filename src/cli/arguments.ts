/** Parsers for command-line values: each rejects bad input with a UsageError (exit 2) naming the argument. */
import { UsageError } from "../lib/errors.ts";

/** A whole number in [min, max]. */
export function parseIntegerArgument(
  name: string,
  value: string,
  min: number,
  max: number,
): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  }
  const n = Number(value);
  if (n < min || n > max) {
    throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`);
  }
  return n;
}

/** An ISO 8601 date or date-time. */
export function parseDateArgument(name: string, value: string): Date {
  const iso = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
  const date = new Date(value);
  if (!iso.test(value.trim()) || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `${name} must be an ISO 8601 date such as 2026-11-25 or 2026-11-25T18:00:00Z, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return date;
}

/** Formats a date for JSON output (ISO 8601 UTC) or null. */
export function isoOrNull(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}
