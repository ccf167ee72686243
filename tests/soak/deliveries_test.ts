import assert from "node:assert/strict";
import { type AcceptedMessage, compareDeliveries, type RecordedEvent } from "./deliveries.ts";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const webhookOf = (slug: string) => `w-${slug}`;

function message(
  method: "POST" | "PATCH",
  slug: string,
  messageId: string,
  at: number,
): AcceptedMessage {
  return {
    method,
    webhookId: webhookOf(slug),
    messageId,
    json: { embeds: [{ timestamp: new Date(at).toISOString() }] },
  };
}

Deno.test("soak deliveries: one message per online, one edit of it per offline", () => {
  const events: RecordedEvent[] = [
    { slug: "a", type: "online", at: T0 },
    { slug: "a", type: "offline", at: T0 + 10_000 },
    { slug: "b", type: "offline", at: T0 + 1_000 }, // its online was the baseline: no message expected
  ];
  const result = compareDeliveries(events, [
    message("POST", "a", "1", T0),
    message("PATCH", "a", "1", T0 + 10_000),
  ], webhookOf);
  assert.deepEqual(result, {
    expected: 2,
    delivered: 2,
    duplicated: 0,
    missing: 0,
    unexpected: 0,
    examples: [],
  });
});

Deno.test("soak deliveries: duplicated, missing and unexpected messages are counted", () => {
  const events: RecordedEvent[] = [
    { slug: "a", type: "online", at: T0 },
    { slug: "a", type: "offline", at: T0 + 10_000 },
    { slug: "a", type: "online", at: T0 + 20_000 },
    { slug: "b", type: "online", at: T0 },
  ];
  const result = compareDeliveries(events, [
    message("POST", "a", "1", T0),
    message("POST", "a", "2", T0), // the same event sent twice
    message("PATCH", "a", "1", T0 + 10_000),
    message("POST", "b", "3", T0 + 5), // no such event; b's online never arrived
  ], webhookOf);
  assert.equal(result.expected, 4);
  assert.equal(result.duplicated, 1);
  assert.equal(result.missing, 2);
  assert.equal(result.unexpected, 1);
  assert.equal(result.delivered, 2);
});
