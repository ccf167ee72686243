/**
 * The buffer in front of the journal: transitions wait here for the next append, so one fsync covers a
 * burst. They are handed to the database writer as soon as they are numbered, with the promise of their fsync:
 * the writer's transaction runs while the journal syncs, and it acknowledges nothing before both are done. A
 * group the journal refuses goes back to the front of the buffer and is journaled again under new numbers.
 *
 * Bounded: while the journal cannot be written (a full disk, a read-only file system) at most `max`
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

/** Groups transitions into journal appends; see the module documentation. */
export class PreJournal {
  #options: PreJournalOptions;
  #buffer: Transition[] = [];
  #draining: Promise<void> | null = null;
  #stopping = new AbortController();
  #failures = 0;
  /** Transitions taken out of the buffer for an append that has not finished. */
  #inFlight = 0;
  #dropped;

  constructor(options: PreJournalOptions) {
    this.#options = options;
    this.#dropped = options.metrics?.counter(
      "kick_monitor_transitions_dropped_total",
      "Transitions dropped because the journal could not be written for too long (re-found by the poll)",
    );
  }

  /** Transitions waiting for the journal. */
  get size(): number {
    return this.#buffer.length + this.#inFlight;
  }

  /** Queues transitions for the journal (dropping past the bound, see the module documentation). */
  add(transitions: Transition[]): void {
    if (transitions.length === 0) return;
    const room = Math.max(0, (this.#options.max ?? DEFAULT_MAX_UNJOURNALED) - this.size);
    const kept = transitions.slice(0, room);
    const dropped = transitions.slice(room);
    for (const t of kept) {
      this.#buffer.push(t);
      log.info(t.baseline ? "status" : "transition", {
        slug: t.slug,
        type: t.type,
        source: t.source,
        occurred_at: t.occurredAt.toISOString(),
      });
    }
    if (dropped.length > 0) {
      this.#dropped?.inc({}, dropped.length);
      log.error("the journal cannot be written and its buffer is full; dropping transitions", {
        count: dropped.length,
        slugs: [...new Set(dropped.map((t) => t.slug))].slice(0, 20),
      });
      this.#options.dropped(dropped);
    }
    if (this.#stopping.signal.aborted) return;
    this.#draining ??= this.#drain();
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
        this.#draining ?? Promise.resolve(),
        new Promise((resolve) => setTimeout(resolve, Math.max(1, deadline - Date.now()))),
      ]);
      if (this.#draining === null && this.size > 0) this.#draining = this.#drain();
    }
  }

  /** Stops: one last append of what waits, then gives up on anything the journal still refuses. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#draining;
    if (this.#buffer.length === 0) return;
    try {
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

  async #drain(): Promise<void> {
    try {
      while (this.#buffer.length > 0 && !this.#stopping.signal.aborted) {
        const batch = this.#buffer;
        this.#buffer = [];
        this.#inFlight = batch.length;
        try {
          const { entries, synced } = this.#options.journal.write(batch);
          // The writer starts the database transaction now; it acknowledges the entries once `synced` is too.
          this.#options.writer.enqueue(entries, synced);
          await synced;
          this.#failures = 0;
        } catch (error) {
          this.#inFlight = 0;
          // Without the journal nothing is durable (the writer drops these entries unacknowledged): put the
          // batch back and try again after a pause.
          this.#failures++;
          log.error("journal write failed; retrying", { error: describeError(error) });
          this.#buffer = batch.concat(this.#buffer);
          const retry = this.#options.retry ?? { baseMs: 500, capMs: 10_000 };
          await sleep(backoffDelay(this.#failures, retry), this.#stopping.signal).catch(() => {});
          continue;
        }
        this.#inFlight = 0;
      }
    } finally {
      this.#draining = null;
    }
  }
}
