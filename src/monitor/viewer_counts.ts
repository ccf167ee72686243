/**
 * The latest viewer count of each live streamer, kept in memory for the status page (issue 14: "live now
 * (title, category, viewers, since when)"), and the peak of each open session, written to the store.
 *
 * Fed from observations: the poll gives `viewers` (the official API's `viewer_count`, kick-api.md), Pusher
 * and webhooks give none, so a count is as fresh as the last poll pass and says when it was seen. A count is
 * forgotten when the streamer's offline transition commits. Peaks seen in one batch of observations (a poll
 * pass emits one batch) are written together in one statement (store/viewers.ts), one write at a time; a
 * failed write keeps its peaks for the next batch.
 */
import type { Observation, Transition } from "../domain/types.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";

/** A streamer's viewer count and when a source reported it. */
export interface ViewerCount {
  viewers: number;
  seenAt: Date;
}

/** Options of {@link ViewerCounts}. */
export interface ViewerCountsOptions {
  /** Raises the open sessions' peaks to these counts, by slug (store/viewers.ts: recordPeakViewers). */
  recordPeaks: (peaks: ReadonlyMap<string, number>) => Promise<void>;
}

/** The latest viewer counts and the peaks not yet written; see the module comment. */
export class ViewerCounts {
  #options: ViewerCountsOptions;
  #latest = new Map<string, ViewerCount>();
  #pending = new Map<string, number>();
  #writing: Promise<void> | null = null;

  constructor(options: ViewerCountsOptions) {
    this.#options = options;
  }

  /** The latest count of a streamer seen live since it last went offline; null when none is known. */
  of(slug: string): ViewerCount | null {
    return this.#latest.get(slug) ?? null;
  }

  /** Takes the counts of a batch of observations, then writes the batch's peaks (not waiting for it). */
  observed(observations: readonly Observation[]): void {
    let counted = false;
    for (const o of observations) {
      if (o.status !== "online" || o.viewers === null || !Number.isInteger(o.viewers)) continue;
      if (o.viewers < 0) continue;
      const latest = this.#latest.get(o.slug);
      if (latest === undefined || latest.seenAt <= o.receivedAt) {
        this.#latest.set(o.slug, { viewers: o.viewers, seenAt: o.receivedAt });
      }
      this.#pending.set(o.slug, Math.max(this.#pending.get(o.slug) ?? 0, o.viewers));
      counted = true;
    }
    // Only a batch with counts writes (a poll pass): Pusher's frames retrying a failed write would hammer a
    // database that is down.
    if (counted) void this.flush();
  }

  /** Forgets the counts of streamers whose offline transition committed. */
  committed(transitions: readonly Transition[]): void {
    for (const t of transitions) {
      if (t.type === "offline") this.#latest.delete(t.slug);
    }
  }

  /** Resolves when no write is in flight (tests; a failed write's peaks stay pending). */
  async settled(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }

  /** Writes the peaks not yet written, after the write in flight; a failure keeps them pending. */
  async flush(): Promise<void> {
    // Starts at once when nothing is in flight, so each batch (a poll pass) is its own write.
    if (this.#writing !== null) await this.settled();
    if (this.#pending.size === 0) return;
    const peaks = this.#pending;
    this.#pending = new Map();
    this.#writing = this.#options.recordPeaks(peaks).catch((error) => {
      // Kept for the next batch (merged with what it brings); a peak only ever grows.
      for (const [slug, viewers] of peaks) {
        this.#pending.set(slug, Math.max(this.#pending.get(slug) ?? 0, viewers));
      }
      log.debug("could not record viewer peaks; retried with the next poll pass", {
        error: describeError(error),
      });
    }).finally(() => {
      this.#writing = null;
    });
    await this.#writing;
  }
}
