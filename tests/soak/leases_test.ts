/** The soak's lease verdict (leases.ts) on hand-made samples and histories. */
import assert from "node:assert/strict";
import {
  type ClaimRecord,
  faultBefore,
  findStaleWrites,
  OwnerlessTracker,
  type WrittenEvent,
} from "./leases.ts";

const T0 = Date.parse("2026-12-03T12:00:00Z");

Deno.test("ownerless: the longest continuous stretch wins, not the sum of short ones", () => {
  const tracker = new OwnerlessTracker();
  // Streamer 1: ownerless 0–1 s and 2–3 s (1 s each); streamer 2: 1–3.5 s (2.5 s).
  const samples: [number, number[]][] = [
    [0, [1]],
    [1_000, [2]],
    [2_000, [1, 2]],
    [3_000, [2]],
    [3_500, []],
    [4_000, []],
  ];
  for (const [ms, ids] of samples) tracker.observe({ at: T0 + ms, ownerless: ids });
  const longest = tracker.longest([])!;
  assert.equal(longest.streamerId, 2);
  assert.equal(longest.ms, 2_500);
  assert.equal(longest.from, T0 + 1_000);
  assert.equal(longest.fault, null);
  assert.equal(tracker.openCount, 0);
});

Deno.test("ownerless: a stretch still open at the end counts up to then", () => {
  const tracker = new OwnerlessTracker();
  tracker.observe({ at: T0, ownerless: [] });
  tracker.observe({ at: T0 + 500, ownerless: [7] });
  tracker.observe({ at: T0 + 750, ownerless: [7] });
  assert.equal(tracker.openCount, 1);
  assert.equal(tracker.longest([])!.ms, 250);
  assert.equal(tracker.longest([], T0 + 9_500)!.ms, 9_000);
});

Deno.test("ownerless: nobody ever ownerless is null; the stretch names the fault before it", () => {
  const tracker = new OwnerlessTracker();
  tracker.observe({ at: T0, ownerless: [] });
  assert.equal(tracker.longest([]), null);
  const faults = [
    { kind: "instance-pause", at: T0 + 5_000, instance: "m2" },
    { kind: "instance-kill", at: T0 + 1_000, instance: "m1" },
    { kind: "api-5xx", at: T0 + 9_000 },
  ];
  tracker.observe({ at: T0 + 6_000, ownerless: [3] });
  tracker.observe({ at: T0 + 8_000, ownerless: [] });
  assert.deepEqual(tracker.longest(faults)!.fault, faults[0]);
  assert.deepEqual(faultBefore(faults, T0 + 4_999), faults[1]);
  assert.equal(faultBefore(faults, T0), null);
});

function claim(streamerId: number, epoch: number, owner: string, seenInSample = 0): ClaimRecord {
  return { streamerId, epoch, owner, seenInSample };
}

function event(
  id: number,
  streamerId: number,
  instance: string | null,
  epoch: number | null,
  seenInSample: number | null = null,
): WrittenEvent {
  return { id, streamerId, instance, epoch, seenInSample };
}

Deno.test("stale writes: an owner writing under its own epochs, in order, is clean", () => {
  const claims = [claim(1, 1, "m1", 0), claim(1, 2, "m2", 5), claim(2, 1, "m2", 0)];
  const events = [
    event(10, 1, "m1", 1, 1),
    event(11, 2, "m2", 1, 2),
    // Committed in the sample where m2's claim first shows: no later than it, so not after it.
    event(12, 1, "m1", 1, 5),
    event(13, 1, "m2", 2, 6),
  ];
  assert.deepEqual(findStaleWrites(events, claims), []);
});

Deno.test("stale writes: an epoch its writer never claimed is a foreign epoch", () => {
  const claims = [claim(1, 1, "m1"), claim(1, 2, "m2")];
  const stale = findStaleWrites([
    event(1, 1, "m1", 2),
    event(2, 1, "m1", 3),
    event(3, 1, null, null),
  ], claims);
  assert.deepEqual(stale.map((s) => [s.eventId, s.reason]), [
    [1, "foreign-epoch"],
    [2, "foreign-epoch"],
    [3, "foreign-epoch"],
  ]);
  assert.match(stale[0].detail, /claimed by m2, written by m1/);
});

Deno.test("stale writes: a lower epoch after a higher one (by id) is a regression", () => {
  const claims = [claim(1, 1, "m1"), claim(1, 2, "m2")];
  const stale = findStaleWrites([event(5, 1, "m2", 2), event(6, 1, "m1", 1)], claims);
  assert.deepEqual(stale.map((s) => [s.eventId, s.reason]), [[6, "epoch-regression"]]);
  // Other streamers' epochs do not count.
  assert.deepEqual(
    findStaleWrites([event(5, 2, "m2", 2), event(6, 1, "m1", 1)], [
      claim(1, 1, "m1"),
      claim(2, 2, "m2"),
    ]),
    [],
  );
});

Deno.test("stale writes: a row first seen after a newer claim was visible was committed after it", () => {
  // m1 held epoch 1; m2's claim of epoch 2 was visible in sample 4; m1's row appeared only in sample 6
  // (the fenced monitor's journal drained after the database came back) and nobody wrote under epoch 2 yet.
  const claims = [claim(1, 1, "m1", 0), claim(1, 2, "m2", 4)];
  const stale = findStaleWrites([event(9, 1, "m1", 1, 6)], claims);
  assert.deepEqual(stale.map((s) => s.reason), ["after-newer-claim"]);
  // Seen only by the final read (no sample index): rules 1 and 2 still apply, rule 3 cannot.
  assert.deepEqual(findStaleWrites([event(9, 1, "m1", 1, null)], claims), []);
});
