import assert from "node:assert/strict";
import { parseDateArgument, parseIntegerArgument } from "../../src/cli/arguments.ts";
import { UsageError } from "../../src/lib/errors.ts";

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    assert.equal(error.exitCode, 2);
    return error.message;
  }
  assert.fail("expected a UsageError");
}

Deno.test("parseIntegerArgument: every mistake gets the one message", () => {
  const message = (value: string) =>
    usageMessage(() => parseIntegerArgument("--limit", value, 1, 100));
  for (const value of ["0", "-1", "101", "ten", "1.5", "", "99999999999999999999"]) {
    assert.equal(
      message(value),
      `--limit must be a whole number from 1 to 100, got ${JSON.stringify(value)}`,
    );
  }
  assert.equal(parseIntegerArgument("--limit", "1", 1, 100), 1);
  assert.equal(parseIntegerArgument("--limit", " 100 ", 1, 100), 100);
});

Deno.test("parseDateArgument: impossible dates and times are refused, real ones accepted", () => {
  for (
    const value of [
      "2026-02-30",
      "2026-02-29",
      "2026-04-31",
      "2026-13-01",
      "2026-00-10",
      "2026-01-00",
      "2026-01-01T24:00:00Z",
      "2026-01-01T12:60:00Z",
      "2026-01-01T12:00:60Z",
      "yesterday",
    ]
  ) {
    assert.match(usageMessage(() => parseDateArgument("--since", value)), /ISO 8601/, value);
  }
  assert.equal(
    parseDateArgument("--since", "2024-02-29").toISOString(),
    "2024-02-29T00:00:00.000Z",
  );
  assert.equal(
    parseDateArgument("--since", "2026-12-31T23:59:59Z").toISOString(),
    "2026-12-31T23:59:59.000Z",
  );
  assert.equal(
    parseDateArgument("--since", "2026-11-25T18:00:00+02:00").toISOString(),
    "2026-11-25T16:00:00.000Z",
  );
});
