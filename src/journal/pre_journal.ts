/**
 * In front of the journal: transitions are numbered and handed to the database writer the moment they arrive,
 * with the promise of their fsync; the journal groups what arrives during one fsync into the next (journal.ts
 * `write`), and the writer's transaction runs while the journal syncs, acknowledging nothing before both are
 * done (database_writer.ts).
 *
 * When the journal refuses a group (a full disk, a read-only file system), every group after it fails too; all
 * of them come back here, in order, and are journaled again under new numbers after a pause (the writer drops
 * the refused numbers unacknowledged). Meanwhile new transitions wait in a buffer, bounded: at most `max`
 * transitions wait. Past that, a new transition is dropped, counted (kick_monitor_transitions_dropped_total),
 * logged, and handed to `dropped` so the pipeline forgets that streamer's state and the next poll finds the
 * change again. `stop()` finishes whatever the journal's state: it tries once more, then gives up on what
 * could not be journaled and says how much.
 */
import type { Transition } from "../domain/types.ts";
import type { Registry } from "../http/metrics.ts";
import { backoffDelay, sleep } from "../lib/backoff.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import type { JournalEntry } from "./journal.ts";

/** Default bound on transitions waiting for the journal. */
export const DEFAULT_MAX_UNJOURNALED = 50_000;

/** Options of {@link PreJournal}. */
export interface PreJournalOptions {
  /** Where transitions are numbered and made durable (journal.ts). */
  journal: {
    append(transitions: Transition[]): Promise<JournalEntry[]>;
    write(transitions: Transition[]): { entries: JournalEntry[]; synced: Promise<void> };
    clearFailure(): void;
  };
  /** Where numbered entries go, with the promise of their fsync (database_writer.ts). */
  writer: { enqueue(entries: JournalEntry[], durable?: Promise<unknown>): void };
  /** Transitions dropped because the buffer was full. */
  dropped: (transitions: Transition[]) => void;
  /** Where the dropped counter is registered. */
  metrics?: Registry;
  /** Most transitions waiting (default {@link DEFAULT_MAX_UNJOURNALED}). */
  max?: number;
  /** Backoff between failed appends. */
  retry?: { baseMs: number; capMs: number };
}

/** Transitions handed to the journal whose fsync has not settled. */
interface Flight {
  transitions: Transition[];
  synced: Promise<void>;
}

/** Hands transitions to the journal and the writer; see the module documentation. */
export class PreJournal {
  #options: PreJournalOptions;
  /** Transitions waiting while the journal fails (or the monitor stops). */
  #buffer: Transition[] = [];
  /** Groups written, oldest first, until their fsync settles. */
  #flights: Flight[] = [];
  /** Set while a refused write is being retried: new transitions wait in the buffer. */
  #recovering: Promise<void> | null = null;
  #stopping = new AbortController();
  #failures = 0;
  #dropped;

  constructor(options: PreJournalOptions) {
    this.#options = options;
    this.#dropped = options.metrics?.counter(
      "kick_monitor_transitions_dropped_total",
      "Transitions dropped because the journal could not be written for too long (re-found by the poll)",
    );
  }

  /** Transitions not yet journaled (waiting, or written and not yet fsync'd). */
  get size(): number {
    let size = this.#buffer.length;
    for (const flight of this.#flights) size += flight.transitions.length;
    return size;
  }

  /** Journals transitions (dropping past the bound while the journal fails, see the module documentation). */
  add(transitions: Transition[]): void {
    if (transitions.length === 0) return;
    const max = this.#options.max ?? DEFAULT_MAX_UNJOURNALED;
    const room = Math.max(0, max - this.size);
    const kept = transitions.slice(0, room);
    const dropped = transitions.slice(room);
    for (const t of kept) {
      log.info(t.baseline ? "status" : "transition", {
        slug: t.slug,
        type: t.type,
        source: t.source,
        occurred_at: t.occurredAt.toISOString(),
        // What a title change changed to: an operator (or a soak's report) can tell which one it was.
        ...(t.type === "title" ? { title: t.title, category: t.category } : {}),
      });
    }
    if (dropped.length > 0) {
      this.#dropped?.inc({}, dropped.length);
      // Two causes, one bound: a journal that refuses writes (a full disk), or a burst larger than the bound
      // arriving at once (the start-up reconciliation of more streamers than it holds, bench 9).
      const why = this.#recovering !== null
        ? "the journal cannot be written and its buffer is full"
        : `more transitions arrived at once than wait for the journal (at most ${max})`;
      log.error(`${why}; dropping transitions (the next poll finds them again)`, {
        count: dropped.length,
        slugs: [...new Set(dropped.map((t) => t.slug))].slice(0, 20),
      });
      this.#options.dropped(dropped);
    }
    if (kept.length === 0) return;
    if (this.#recovering !== null || this.#stopping.signal.aborted) {
      this.#buffer.push(...kept);
      return;
    }
    this.#send(kept);
  }

  /** Resolves once everything added so far is journaled; rejects after `timeoutMs`. */
  async flushed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.size > 0) {
      if (Date.now() >= deadline) {
        throw new Error(
          `the journal did not take ${this.size} transition(s) within ${timeoutMs} ms`,
        );
      }
      await Promise.race([
        Promise.allSettled([this.#recovering, ...this.#flights.map((f) => f.synced)]),
        sleep(Math.max(1, Math.min(50, deadline - Date.now()))),
      ]);
    }
  }

  /** Stops: one last append of what waits, then gives up on anything the journal still refuses. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await Promise.allSettled(this.#flights.map((flight) => flight.synced));
    await this.#recovering;
    if (this.#buffer.length === 0) return;
    try {
      this.#options.journal.clearFailure();
      this.#options.writer.enqueue(await this.#options.journal.append(this.#buffer));
      this.#buffer = [];
    } catch (error) {
      log.error("stopping with transitions the journal could not take; they are lost", {
        count: this.#buffer.length,
        error: describeError(error),
      });
      this.#options.dropped(this.#buffer);
      this.#buffer = [];
    }
  }

  /** Writes a group; the writer gets its entries now, with the promise of its fsync. */
  #send(transitions: Transition[]): void {
    let written: { entries: JournalEntry[]; synced: Promise<void> };
    try {
      written = this.#options.journal.write(transitions);
    } catch (error) {
      this.#buffer = transitions.concat(this.#buffer);
      this.#recovering ??= this.#recover(error);
      return;
    }
    const flight = { transitions, synced: written.synced };
    this.#flights.push(flight);
    this.#options.writer.enqueue(written.entries, written.synced);
    written.synced.then(() => {
      this.#flights = this.#flights.filter((f) => f !== flight);
      this.#failures = 0;
    }, (error) => {
      this.#recovering ??= this.#recover(error);
    });
  }

  /**
   * A group was refused, and so is every group after it (journal.ts): once all have settled, takes them back in
   * order, ahead of what waits, and journals them again after a pause, until the journal takes them.
   */
  async #recover(error: unknown): Promise<void> {
    log.error("journal write failed; retrying", { error: describeError(error) });
    while (this.#flights.length > 0) {
      await Promise.allSettled(this.#flights.map((flight) => flight.synced));
      // Groups fsync'd before the refused one left on their own; what is left was refused.
      const refused = this.#flights;
      this.#flights = [];
      this.#buffer = refused.flatMap((flight) => flight.transitions).concat(this.#buffer);
    }
    try {
      let pause = true;
      while (this.#buffer.length > 0 && !this.#stopping.signal.aborted) {
        if (pause) {
          this.#failures++;
          const retry = this.#options.retry ?? { baseMs: 500, capMs: 10_000 };
          await sleep(backoffDelay(this.#failures, retry), this.#stopping.signal).catch(() => {});
          if (this.#stopping.signal.aborted) return;
        }
        // What arrived while this write syncs waits for the next pass, behind it.
        const batch = this.#buffer;
        this.#buffer = [];
        this.#options.journal.clearFailure();
        try {
          const { entries, synced } = this.#options.journal.write(batch);
          this.#flights = [{ transitions: batch, synced }];
          this.#options.writer.enqueue(entries, synced);
          await synced;
          this.#failures = 0;
          pause = false;
        } catch (retryError) {
          log.error("journal write failed; retrying", { error: describeError(retryError) });
          this.#buffer = batch.concat(this.#buffer);
          pause = true;
        } finally {
          this.#flights = [];
        }
      }
    } finally {
      this.#recovering = null;
    }
  }
}
