/**
 * The latest viewer count of each live streamer, kept in memory for the status page (issue 14: "live now
 * (title, category, viewers, since when)"), and the peak of each open session, written to the store.
 *
 * Fed from observations: the poll gives `viewers` (the official API's `viewer_count`, kick-api.md), Pusher
 * and webhooks give none, so a count is as fresh as the last poll pass and says when it was seen. A count is
 * forgotten when the streamer's offline transition commits. Peaks seen in one batch of observations (a poll
 * pass emits one batch) are written together in one statement (store/viewers.ts), one write at a time; a
 * failed write keeps its peaks for the next batch. A peak that found no open session (the pass that saw the
 * go-live is the one whose transition opens the session, committed a moment later) is written again when
 * that streamer's online transition commits; any other transition drops it.
 *
 * The same observation's category is kept with the count: a session Pusher opened has none (its go-live event
 * carries no category, kick-api.md), and the poll that follows is the first to say it. Listeners hear of a
 * streamer's first count since it went live, so the page can complete a row it added on a transition.
 */
import type { Observation, Transition } from "../domain/types.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import type { Store } from "../store/store.ts";
import { recordPeakViewers } from "../store/viewers.ts";

/** A streamer's viewer count, when a source reported it, and the category it gave with it. */
export interface ViewerCount {
  viewers: number;
  seenAt: Date;
  category: string | null;
}

/** Options of {@link ViewerCounts}. */
export interface ViewerCountsOptions {
  /**
   * Raises the open sessions' peaks to these counts, by slug, and returns the slugs without an open session
   * (store/viewers.ts: recordPeakViewers).
   */
  recordPeaks: (peaks: ReadonlyMap<string, number>) => Promise<readonly string[]>;
}

/** The latest viewer counts and the peaks not yet written; see the module comment. */
export class ViewerCounts {
  #options: ViewerCountsOptions;
  #latest = new Map<string, ViewerCount>();
  #pending = new Map<string, number>();
  /** Peaks of streamers whose session was not open yet when written: placed once their online commits. */
  #unplaced = new Map<string, number>();
  #writing: Promise<void> | null = null;
  /** The peaks of the write in flight (it may run before the session it needs commits). */
  #inFlight: ReadonlyMap<string, number> = new Map();
  #firstCountListeners = new Set<(slug: string, count: ViewerCount) => void>();

  constructor(options: ViewerCountsOptions) {
    this.#options = options;
  }

  /** Counts whose peaks are written to `store` (store/viewers.ts). */
  static forStore(store: Store): ViewerCounts {
    return new ViewerCounts({ recordPeaks: (peaks) => recordPeakViewers(store.db, peaks) });
  }

  /** The latest count of a streamer seen live since it last went offline; null when none is known. */
  of(slug: string): ViewerCount | null {
    return this.#latest.get(slug) ?? null;
  }

  /** Calls `listener` with a streamer's first count since it went live (or since the daemon started). */
  onFirstCount(listener: (slug: string, count: ViewerCount) => void): () => void {
    this.#firstCountListeners.add(listener);
    return () => this.#firstCountListeners.delete(listener);
  }

  /** Takes the counts of a batch of observations, then writes the batch's peaks (not waiting for it). */
  observed(observations: readonly Observation[]): void {
    let counted = false;
    for (const o of observations) {
      if (o.status !== "online" || o.viewers === null || !Number.isInteger(o.viewers)) continue;
      if (o.viewers < 0) continue;
      const latest = this.#latest.get(o.slug);
      if (latest === undefined || latest.seenAt <= o.receivedAt) {
        const count = { viewers: o.viewers, seenAt: o.receivedAt, category: o.category };
        this.#latest.set(o.slug, count);
        if (latest === undefined) this.#tellFirstCount(o.slug, count);
      }
      this.#pending.set(o.slug, Math.max(this.#pending.get(o.slug) ?? 0, o.viewers));
      counted = true;
    }
    // Only a batch with counts writes (a poll pass): Pusher's frames retrying a failed write would hammer a
    // database that is down.
    if (counted) void this.flush();
  }

  #tellFirstCount(slug: string, count: ViewerCount): void {
    for (const listener of this.#firstCountListeners) {
      try {
        listener(slug, count);
      } catch (error) {
        log.warn("a viewer count listener failed", { error: describeError(error) });
      }
    }
  }

  /**
   * Forgets the counts of streamers whose offline transition committed; writes again the peaks that found no
   * open session, now that their online transition opened it.
   */
  committed(transitions: readonly Transition[]): void {
    let opened = false;
    for (const t of transitions) {
      const unplaced = this.#unplaced.get(t.slug) ?? this.#inFlight.get(t.slug);
      this.#unplaced.delete(t.slug);
      // Only a count seen since the session started belongs to it (a stale answer's does not).
      const seenAt = this.#latest.get(t.slug)?.seenAt;
      if (t.type === "offline") {
        this.#latest.delete(t.slug);
      } else if (unplaced !== undefined && seenAt !== undefined && seenAt >= t.occurredAt) {
        this.#pending.set(t.slug, Math.max(this.#pending.get(t.slug) ?? 0, unplaced));
        opened = true;
      }
    }
    if (opened) void this.flush();
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
    this.#inFlight = peaks;
    this.#writing = this.#options.recordPeaks(peaks).then((unplaced) => {
      for (const slug of peaks.keys()) this.#unplaced.delete(slug);
      for (const slug of unplaced) {
        const viewers = peaks.get(slug);
        // Gone offline meanwhile: the count belonged to a session that is over.
        if (viewers !== undefined && this.#latest.has(slug)) this.#unplaced.set(slug, viewers);
      }
    }, (error) => {
      // Kept for the next batch (merged with what it brings); a peak only ever grows.
      for (const [slug, viewers] of peaks) {
        this.#pending.set(slug, Math.max(this.#pending.get(slug) ?? 0, viewers));
      }
      log.debug("could not record viewer peaks; retried with the next poll pass", {
        error: describeError(error),
      });
    }).finally(() => {
      this.#writing = null;
      this.#inFlight = new Map();
    });
    await this.#writing;
  }
}
