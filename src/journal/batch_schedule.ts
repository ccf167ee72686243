/**
 * Which journaled transitions the database writer may send in its next batch while other batches are still
 * in flight: pure, no I/O, so the ordering rule lives in one place and is tested without a database.
 *
 * The rule: a streamer's transitions reach the database in journal order. So a batch never takes a
 * transition of a streamer that another unfinished batch holds (`busy`), nor one that comes after a
 * transition of the same streamer left in the queue. Batches picked this way touch disjoint sets of
 * streamers and may run in concurrent transactions; two batches touching one streamer commit one after the
 * other, in order.
 *
 * `maxStreamers` spreads a large backlog over several batches by streamer instead of by position: with a
 * queue of many rounds over the same streamers, batches of the first N entries would all touch every
 * streamer (none could run together), while batches of a few rounds of half the streamers can.
 */

/** What the schedule needs to know of a queued entry. */
export interface Schedulable {
  /** The journal's sequence number. */
  seq: number;
  /** The transition; only its streamer matters here. */
  transition: { slug: string };
}

/** Limits of one batch. */
export interface BatchLimits {
  /** Most entries in a batch. */
  maxBatch: number;
  /** Most distinct streamers in a batch. */
  maxStreamers: number;
}

/** A picked batch and what stays queued, both in queue order. */
export interface PickedBatch<T> {
  /** The entries to write now. */
  batch: T[];
  /** The entries left in the queue. */
  rest: T[];
}

/**
 * Picks the next batch from `queue` (in journal order) that may run while the streamers in `busy` are held
 * by unfinished batches. See the module documentation for the rule.
 *
 * @example
 * ```ts
 * const queue = [{ seq: 1, transition: { slug: "a" } }, { seq: 2, transition: { slug: "b" } }];
 * pickBatch(queue, new Set(["a"]), { maxBatch: 10, maxStreamers: 10 }).batch; // only seq 2
 * ```
 */
export function pickBatch<T extends Schedulable>(
  queue: readonly T[],
  busy: ReadonlySet<string>,
  limits: BatchLimits,
): PickedBatch<T> {
  const batch: T[] = [];
  const taken = new Set<string>();
  /** Streamers with an entry left behind in this pass: their later entries must wait too. */
  const blocked = new Set<string>();
  let end = 0;
  for (; end < queue.length && batch.length < limits.maxBatch; end++) {
    const slug = queue[end].transition.slug;
    if (busy.has(slug) || blocked.has(slug)) continue;
    if (!taken.has(slug)) {
      if (taken.size >= limits.maxStreamers) {
        blocked.add(slug);
        continue;
      }
      taken.add(slug);
    }
    batch.push(queue[end]);
  }
  if (batch.length === 0) return { batch, rest: queue.slice() };
  const picked = new Set(batch);
  const rest = queue.slice(0, end).filter((entry) => !picked.has(entry));
  for (let i = end; i < queue.length; i++) rest.push(queue[i]);
  return { batch, rest };
}

/** The distinct streamers of a batch. */
export function streamersOf(batch: readonly Schedulable[]): Set<string> {
  return new Set(batch.map((entry) => entry.transition.slug));
}

/** Merges entries back into a queue, both in journal order (a failed batch returning to the queue). */
export function mergeBySeq<T extends Schedulable>(
  queue: readonly T[],
  returned: readonly T[],
): T[] {
  const merged: T[] = [];
  let i = 0;
  let j = 0;
  while (i < queue.length || j < returned.length) {
    if (j >= returned.length || (i < queue.length && queue[i].seq < returned[j].seq)) {
      merged.push(queue[i++]);
    } else {
      merged.push(returned[j++]);
    }
  }
  return merged;
}

/**
 * The commit cursor: the highest sequence number below which nothing is still waiting, given the smallest
 * sequence number still queued or in flight (null: none) and the highest one acknowledged so far. Batches
 * finish out of order, so the cursor may only move past an entry once every entry before it is done.
 */
export function commitWatermark(lowestPending: number | null, highestDone: number): number {
  return lowestPending === null ? highestDone : Math.min(highestDone, lowestPending - 1);
}
