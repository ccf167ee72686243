/**
 * The database writer's schedule (src/journal/batch_schedule.ts): which entries may go in a batch beside the
 * batches in flight, pure, against a reference that replays the rule one entry at a time.
 */
import assert from "node:assert/strict";
import {
  commitWatermark,
  mergeBySeq,
  pickBatch,
  type Schedulable,
  streamersOf,
} from "../../src/journal/batch_schedule.ts";

function entries(slugs: string): Schedulable[] {
  return [...slugs].map((slug, i) => ({ seq: i + 1, transition: { slug } }));
}

const seqs = (list: Schedulable[]) => list.map((e) => e.seq);

Deno.test("schedule: streamers held by batches in flight are skipped, with every later entry of theirs", () => {
  const queue = entries("abacbd");
  const { batch, rest } = pickBatch(queue, new Set(["a"]), { maxBatch: 10, maxStreamers: 10 });
  assert.deepEqual(seqs(batch), [2, 4, 5, 6]);
  assert.deepEqual(seqs(rest), [1, 3]);
});

Deno.test("schedule: a streamer past maxStreamers waits, and so do its later entries", () => {
  const queue = entries("abcabc");
  const { batch, rest } = pickBatch(queue, new Set(), { maxBatch: 10, maxStreamers: 2 });
  assert.deepEqual(seqs(batch), [1, 2, 4, 5]);
  assert.deepEqual(seqs(rest), [3, 6]);
  // The next batch, beside the first, takes what is left: disjoint streamers.
  const next = pickBatch(rest, streamersOf(batch), { maxBatch: 10, maxStreamers: 2 });
  assert.deepEqual(seqs(next.batch), [3, 6]);
  assert.deepEqual(next.rest, []);
});

Deno.test("schedule: maxBatch cuts the batch and keeps the rest in order", () => {
  const queue = entries("aaaa");
  const { batch, rest } = pickBatch(queue, new Set(), { maxBatch: 3, maxStreamers: 1 });
  assert.deepEqual(seqs(batch), [1, 2, 3]);
  assert.deepEqual(seqs(rest), [4]);
});

Deno.test("schedule: nothing to take when every streamer is busy", () => {
  const queue = entries("abab");
  const { batch, rest } = pickBatch(queue, new Set(["a", "b"]), { maxBatch: 10, maxStreamers: 10 });
  assert.deepEqual(batch, []);
  assert.deepEqual(seqs(rest), [1, 2, 3, 4]);
});

/** The rule one entry at a time: may entry i go, given what is busy and what the batch holds so far? */
function reference(
  queue: Schedulable[],
  busy: Set<string>,
  maxBatch: number,
  maxStreamers: number,
) {
  const batch: Schedulable[] = [];
  const slugs = new Set<string>();
  for (let i = 0; i < queue.length && batch.length < maxBatch; i++) {
    const slug = queue[i].transition.slug;
    const earlierLeft = queue.slice(0, i).some((e) =>
      e.transition.slug === slug && !batch.includes(e)
    );
    if (busy.has(slug) || earlierLeft) continue;
    if (!slugs.has(slug) && slugs.size >= maxStreamers) continue;
    slugs.add(slug);
    batch.push(queue[i]);
  }
  return batch;
}

Deno.test("schedule: agrees with the one-at-a-time reference, and no streamer's entries are reordered", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let round = 0; round < 500; round++) {
    const queue = Array.from({ length: Math.floor(random() * 40) }, (_, i) => ({
      seq: i + 1,
      transition: { slug: "abcdef"[Math.floor(random() * 6)] },
    }));
    const busy = new Set([..."abcdef"].filter(() => random() < 0.3));
    const maxBatch = 1 + Math.floor(random() * 12);
    const maxStreamers = 1 + Math.floor(random() * 4);
    const { batch, rest } = pickBatch(queue, busy, { maxBatch, maxStreamers });
    assert.deepEqual(batch, reference(queue, busy, maxBatch, maxStreamers), `round ${round}`);
    assert.deepEqual(mergeBySeq(rest, batch), queue, "batch and rest are the queue, split");
    for (const slug of streamersOf(batch)) {
      const left = rest.filter((e) => e.transition.slug === slug);
      const taken = batch.filter((e) => e.transition.slug === slug);
      assert.ok(left.every((e) => e.seq > taken[taken.length - 1].seq), `round ${round}: ${slug}`);
    }
  }
});

Deno.test("schedule: the commit cursor never passes an entry still pending", () => {
  assert.equal(commitWatermark(null, 12), 12);
  assert.equal(commitWatermark(5, 12), 4, "batch 5… still in flight while a later one finished");
  assert.equal(commitWatermark(20, 12), 12);
});
