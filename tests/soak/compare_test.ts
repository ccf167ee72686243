/** The soak's verdict (compare.ts) on hand-made histories. */
import assert from "node:assert/strict";
import { compareHistories, type RecordedEvent, type TruthEntry } from "./compare.ts";

const T0 = Date.parse("2026-11-26T00:00:00Z");
const options = { toleranceMs: 4_000, blindWindows: [] };

function truth(slug: string, ...steps: [string, number][]): TruthEntry[] {
  return steps.map(([type, s]) => ({
    slug,
    type: type as "online" | "offline",
    at: T0 + s * 1000,
  }));
}

let nextId = 1;
function recorded(slug: string, ...steps: [string, number][]): RecordedEvent[] {
  return steps.map(([type, s]) => ({
    id: nextId++,
    slug,
    type: type as "online" | "offline",
    at: T0 + s * 1000,
  }));
}

Deno.test("compare: the same history is clean", () => {
  const t = truth("a", ["online", 10], ["offline", 30], ["online", 50]);
  const r = recorded("a", ["online", 10], ["offline", 31], ["online", 50]);
  const c = compareHistories(t, r, options);
  assert.deepEqual(
    [c.expected, c.recorded, c.missing, c.duplicated, c.outOfOrder, c.wrongTime],
    [3, 3, 0, 0, 0, 0],
  );
  assert.equal(c.maxDelayMs, 1_000);
});

Deno.test("compare: a missed flip is two missing, a second row is a duplicate", () => {
  const t = truth("a", ["online", 10], ["offline", 30], ["online", 50], ["offline", 70]);
  const r = recorded("a", ["online", 10], ["offline", 70]);
  const missed = compareHistories(t, r, options);
  assert.equal(missed.missing, 2);
  assert.equal(missed.duplicated, 0);
  assert.deepEqual(missed.examples.map((e) => [e.kind, e.type]), [
    ["missing", "offline"],
    ["missing", "online"],
  ]);

  const twice = compareHistories(
    truth("b", ["online", 10]),
    recorded("b", ["online", 10], ["online", 10]),
    options,
  );
  assert.equal(twice.duplicated, 1);
  assert.equal(twice.missing, 0);
});

Deno.test("compare: order by insertion, time against the tolerance and the blind windows", () => {
  const t = truth("a", ["online", 10], ["offline", 30], ["online", 50]);
  // The offline recorded 15 s late, and inserted after the online that followed it.
  const r = [
    ...recorded("a", ["online", 10]),
    ...recorded("a", ["online", 50]),
    ...recorded("a", ["offline", 45]),
  ];
  const late = compareHistories(t, r, options);
  assert.equal(late.outOfOrder, 1);
  assert.equal(late.wrongTime, 1);
  assert.equal(late.missing, 0);
  // The offline fell while the daemon was down: its restart time is right, up to the window's end.
  const excused = compareHistories(t, r, {
    ...options,
    blindWindows: [{ from: T0 + 25_000, until: T0 + 55_000 }],
  });
  assert.equal(excused.wrongTime, 0);
});

Deno.test("compare: streamers are compared separately", () => {
  const t = [...truth("a", ["online", 10]), ...truth("b", ["offline", 10])];
  const r = [...recorded("b", ["offline", 10]), ...recorded("c", ["online", 5])];
  const c = compareHistories(t, r, options);
  assert.equal(c.missing, 1);
  assert.equal(c.duplicated, 1);
});
