/**
 * The sink that carries journaled transitions into the database: in order, in batches, idempotently. While the
 * database is unreachable it keeps the entries (they are safe in the journal) and retries with backoff; when the
 * database returns, everything is written in order.
 *
 * Memory is bounded: when the cursor can read the journal back (`readAfter`, as the Journal does), at most
 * `maxQueued` entries are held in memory. Entries beyond that stay only in the durable journal; the writer stops
 * taking new ones (so the window stays contiguous) and reads the next ones from the journal, in order, as the
 * window drains. A cursor that cannot read back gets an unbounded queue, since it holds no other copy.
 */
import type { JournalEntry } from "./journal.ts";
import { backoffDelay, sleep } from "../lib/backoff.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import type { Transition } from "../domain/types.ts";
import { withTimeout } from "../lib/timeout.ts";
import type { ApplyOptions, ApplyResult, RefusedTransition } from "../store/transitions.ts";

/** The part of the store this writer needs. */
export interface TransitionStore {
  applyTransitions(transitions: Transition[], options?: ApplyOptions): Promise<ApplyResult>;
}

/** Where committed progress is recorded (the journal), and where entries beyond the memory window are re-read. */
export interface CommitCursor {
  markCommitted(seq: number): Promise<void>;
  /** Sequence number of the last entry committed before this writer started. */
  readonly committedSeq?: number;
  /** Sequence number of the last entry appended; with `readAfter`, bounds the memory queue. */
  readonly lastSeq?: number;
  /** Up to `limit` entries after `seq`, in order. */
  readAfter?(seq: number, limit: number): Promise<JournalEntry[]>;
}

/** Entries held in memory by default when the cursor can read the rest back from the journal. */
export const DEFAULT_MAX_QUEUED = 10_000;

export interface DatabaseWriterOptions {
  store: TransitionStore;
  cursor: CommitCursor;
  /** Largest batch per database transaction. */
  maxBatch?: number;
  /** Most entries held in memory when the cursor can read the journal back (see the module documentation). */
  maxQueued?: number;
  /** Backoff while the database is down. */
  retry?: { baseMs: number; capMs: number };
  /**
   * How long one batch may take before it is abandoned and retried (the write is idempotent, so a late commit
   * of the abandoned attempt is harmless).
   */
  writeTimeoutMs?: number;
  /** Run inside each batch's transaction with its new events (durable sinks, see contracts.ts). */
  inTransaction?: ApplyOptions["inTransaction"];
  /** Called after each committed batch, e.g. for the event-to-commit latency histogram. */
  onCommitted?: (entries: JournalEntry[], committedAt: number) => void;
  /** Called with each failure (the writer keeps going). */
  onError?: (error: unknown) => void;
  /**
   * Called with transitions the database refused because their lease is no longer the streamer's (issue 16);
   * they are done with, not retried.
   */
  onRefused?: (refused: RefusedTransition[]) => void;
}

export class DatabaseWriter {
  #queue: JournalEntry[] = [];
  /** Highest sequence number queued (or committed before this writer started). */
  #queuedSeq: number;
  /** True while entries past `#queuedSeq` exist only in the journal (the window was full). */
  #spilled = false;
  #options:
    & Required<
      Omit<DatabaseWriterOptions, "onCommitted" | "onError" | "inTransaction" | "onRefused">
    >
    & DatabaseWriterOptions;
  #running: Promise<void> | null = null;
  /** The latest commit-cursor write; they run in order, each after the one before. */
  #cursorWrite: Promise<void> = Promise.resolve();
  #wake: (() => void) | null = null;
  #stopping = false;
  #failures = 0;
  #lastError: string | null = null;
  committed = 0;

  constructor(options: DatabaseWriterOptions) {
    this.#options = {
      maxBatch: 1_000,
      maxQueued: DEFAULT_MAX_QUEUED,
      retry: { baseMs: 200, capMs: 10_000 },
      writeTimeoutMs: 30_000,
      ...options,
    };
    this.#queuedSeq = options.cursor.committedSeq ?? 0;
    // Whatever the journal holds past the cursor is read back by the loop, in order, a window at a time.
    this.#spilled = this.#canReread() && (options.cursor.lastSeq ?? 0) > this.#queuedSeq;
  }

  /** Entries waiting to be committed (in memory and, past the window, in the journal). */
  get backlog(): number {
    const lastSeq = this.#options.cursor.lastSeq;
    if (this.#spilled && lastSeq !== undefined) {
      return this.#queue.length + Math.max(0, lastSeq - this.#queuedSeq);
    }
    return this.#queue.length;
  }

  /** Entries held in memory (at most `maxQueued` when the cursor can read the journal back). */
  get queued(): number {
    return this.#queue.length;
  }

  /** The last database error, while the writer is failing; null once a batch commits. */
  get lastError(): string | null {
    return this.#lastError;
  }

  /** Queues entries (already durable in the journal) and wakes the writer. */
  enqueue(entries: JournalEntry[]): void {
    if (entries.length === 0) return;
    const bounded = this.#canReread();
    for (const entry of entries) {
      if (!bounded) {
        this.#queue.push(entry);
        continue;
      }
      // Already queued (read back from the journal before the appender handed it over) or behind a spill.
      if (entry.seq <= this.#queuedSeq || this.#spilled) continue;
      // Full, or not the next one (recovery returned only the first entries): read the rest from the journal.
      if (this.#queue.length >= this.#options.maxQueued || entry.seq !== this.#queuedSeq + 1) {
        this.#spilled = true;
        continue;
      }
      this.#queue.push(entry);
      this.#queuedSeq = entry.seq;
    }
    this.#wake?.();
  }

  #canReread(): boolean {
    return this.#options.cursor.readAfter !== undefined &&
      this.#options.cursor.lastSeq !== undefined;
  }

  /** Refills the window from the journal once it has drained to half. */
  async #refill(): Promise<void> {
    const cursor = this.#options.cursor;
    if (!this.#spilled || cursor.readAfter === undefined) return;
    const room = this.#options.maxQueued - this.#queue.length;
    if (room < this.#options.maxQueued / 2) return;
    const entries = await cursor.readAfter(this.#queuedSeq, room);
    for (const entry of entries) {
      if (entry.seq <= this.#queuedSeq) continue;
      this.#queue.push(entry);
      this.#queuedSeq = entry.seq;
    }
    // Not `entries.length < room`: an append that finished while the file was read was dropped by `enqueue`
    // (still spilled) but may not have been read; only the journal's last number says it was caught up.
    this.#spilled = this.#queuedSeq < (cursor.lastSeq ?? 0);
  }

  /** Starts the write loop. */
  start(): void {
    this.#running ??= this.#loop();
  }

  /**
   * Stops after trying to write what is queued, for at most `timeoutMs`; whatever is left stays in the journal
   * and is written at the next start.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.backlog > 0 && this.#failures === 0 && Date.now() < deadline) {
      this.#wake?.();
      await sleep(10);
    }
    this.#stopping = true;
    this.#wake?.();
    // A batch stuck in the database client must not hold the process open past the deadline.
    const remaining = Math.max(0, deadline - Date.now()) + 1_000;
    await withTimeout(this.#running ?? Promise.resolve(), remaining, "the database writer").catch(
      (error) =>
        log.warn("the database writer did not stop in time", { error: describeError(error) }),
    );
    this.#running = null;
    await this.#cursorWrite;
  }

  /** Resolves once nothing waits to be written, or after `timeoutMs` (the writer keeps going either way). */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.backlog > 0 && !this.#stopping && Date.now() < deadline) await sleep(50);
  }

  /** Writes everything queued now; for one-shot commands and tests. Throws on a database error. */
  async flush(): Promise<void> {
    await this.#refill();
    while (this.#queue.length > 0) {
      await this.#writeBatch();
      await this.#refill();
    }
    await this.#cursorWrite;
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#refill();
      } catch (error) {
        log.warn("could not read the journal back; retrying", { error: describeError(error) });
        await sleep(1_000);
      }
      if (this.#queue.length === 0 && this.#spilled) {
        // An append is still being written: its enqueue wakes us, and the journal has it by then.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 50);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = null;
        continue;
      }
      if (this.#queue.length === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
        continue;
      }
      try {
        await this.#writeBatch();
        this.#failures = 0;
        this.#lastError = null;
      } catch (error) {
        this.#failures++;
        this.#lastError = describeError(error);
        this.#options.onError?.(error);
        const delay = backoffDelay(this.#failures - 1, this.#options.retry);
        log.warn("database write failed; transitions stay in the journal and will be retried", {
          error: this.#lastError,
          backlog: this.#queue.length,
          retryInMs: delay,
        });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.#wake = () => {
            if (this.#stopping) {
              clearTimeout(timer);
              resolve();
            }
          };
        });
        this.#wake = null;
      }
    }
  }

  async #writeBatch(): Promise<void> {
    const batch = this.#queue.slice(0, this.#options.maxBatch);
    const result = await withTimeout(
      this.#options.store.applyTransitions(batch.map((entry) => entry.transition), {
        inTransaction: this.#options.inTransaction,
      }),
      this.#options.writeTimeoutMs,
      `writing ${batch.length} transitions`,
    );
    const committedAt = Date.now();
    // Only the writer removes from the front, so the batch is still the queue's head.
    this.#queue.splice(0, batch.length);
    this.committed += batch.length;
    // The cursor only shortens the replay after a crash (replaying committed entries is a no-op), so the next
    // batch does not wait for its fsync: that wait was a third of each write cycle, and so of the latency.
    const seq = batch[batch.length - 1].seq;
    this.#cursorWrite = this.#cursorWrite
      .then(() => this.#options.cursor.markCommitted(seq))
      .catch((error) =>
        log.warn("could not record the commit cursor; a restart replays more", {
          error: describeError(error),
        })
      );
    if (result.refused === undefined) {
      this.#options.onCommitted?.(batch, committedAt);
      return;
    }
    this.#options.onRefused?.(result.refused);
    const refused = new Set(result.refused.map((r) => r.transition.dedupeKey));
    this.#options.onCommitted?.(
      batch.filter((entry) => !refused.has(entry.transition.dedupeKey)),
      committedAt,
    );
  }
}
