/**
 * The sink that carries journaled transitions into the database: in order, in batches, idempotently. While the
 * database is unreachable it keeps the entries (they are safe in the journal) and retries with backoff; when the
 * database returns, everything is written in order.
 */
import type { JournalEntry } from "./journal.ts";
import { backoffDelay, sleep } from "../lib/backoff.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import type { Transition } from "../domain/types.ts";
import { withTimeout } from "../lib/timeout.ts";

/** The part of the store this sink needs. */
export interface TransitionStore {
  applyTransitions(transitions: Transition[]): Promise<{ inserted: number; skipped: number }>;
}

/** Where committed progress is recorded (the journal). */
export interface CommitCursor {
  markCommitted(seq: number): Promise<void>;
}

export interface DatabaseWriterOptions {
  store: TransitionStore;
  cursor: CommitCursor;
  /** Largest batch per database transaction. */
  maxBatch?: number;
  /** Backoff while the database is down. */
  retry?: { baseMs: number; capMs: number };
  /**
   * How long one batch may take before it is abandoned and retried (the write is idempotent, so a late commit
   * of the abandoned attempt is harmless).
   */
  writeTimeoutMs?: number;
  /** Called after each committed batch, e.g. for the event-to-commit latency histogram. */
  onCommitted?: (entries: JournalEntry[], committedAt: number) => void;
  /** Called with each failure (the writer keeps going). */
  onError?: (error: unknown) => void;
}

export class DatabaseWriter {
  #queue: JournalEntry[] = [];
  #options:
    & Required<Omit<DatabaseWriterOptions, "onCommitted" | "onError">>
    & DatabaseWriterOptions;
  #running: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #stopping = false;
  #failures = 0;
  #lastError: string | null = null;
  committed = 0;

  constructor(options: DatabaseWriterOptions) {
    this.#options = {
      maxBatch: 1_000,
      retry: { baseMs: 200, capMs: 10_000 },
      writeTimeoutMs: 30_000,
      ...options,
    };
  }

  /** Entries waiting to be committed. */
  get backlog(): number {
    return this.#queue.length;
  }

  /** The last database error, while the writer is failing; null once a batch commits. */
  get lastError(): string | null {
    return this.#lastError;
  }

  /** Queues entries (already durable in the journal) and wakes the writer. */
  enqueue(entries: JournalEntry[]): void {
    if (entries.length === 0) return;
    for (const entry of entries) this.#queue.push(entry);
    this.#wake?.();
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
    while (this.#queue.length > 0 && this.#failures === 0 && Date.now() < deadline) {
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
  }

  /** Writes everything queued now; for one-shot commands and tests. Throws on a database error. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0) await this.#writeBatch();
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
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
    await withTimeout(
      this.#options.store.applyTransitions(batch.map((entry) => entry.transition)),
      this.#options.writeTimeoutMs,
      `writing ${batch.length} transitions`,
    );
    const committedAt = Date.now();
    // Only the writer removes from the front, so the batch is still the queue's head.
    this.#queue.splice(0, batch.length);
    this.committed += batch.length;
    await this.#options.cursor.markCommitted(batch[batch.length - 1].seq);
    this.#options.onCommitted?.(batch, committedAt);
  }
}
