/**
 * The sink that carries journaled transitions into the database: in batches, idempotently, each streamer's in
 * journal order. While the database is unreachable it keeps the entries (they are safe in the journal) and
 * retries with backoff; when the database returns, everything is written in order.
 *
 * Overlapped with the journal: entries arrive as soon as they are numbered, with the promise of their fsync
 * (`enqueue(entries, durable)`), and the batch's transaction runs while the journal syncs. A batch is
 * acknowledged (`onCommitted`, the commit cursor) only once both are done. A crash between the two loses
 * nothing: a committed row without its journal line was never acknowledged, and a journal line without its row
 * is replayed, the database ignoring replays by dedupe key. An entry whose journal write failed is not
 * acknowledged here; the pre-journal writes it again, under a new number, and that copy is.
 *
 * Concurrent: up to `concurrency` batches run in their own transactions at once, on disjoint sets of streamers
 * (batch_schedule.ts), when a backlog calls for it (`concurrentBacklog`); a streamer's next batch waits until
 * its previous one is acknowledged.
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
import { commitWatermark, mergeBySeq, pickBatch, streamersOf } from "./batch_schedule.ts";

/** The part of the store this writer needs. */
export interface TransitionStore {
  /** Writes a batch in one transaction, idempotently (store/transitions.ts); refuses stale leases' rows. */
  applyTransitions(transitions: Transition[], options?: ApplyOptions): Promise<ApplyResult>;
}

/** Where committed progress is recorded (the journal), and where entries beyond the memory window are re-read. */
export interface CommitCursor {
  /** Records that every entry up to `seq` is committed and journaled. */
  markCommitted(seq: number): Promise<void>;
  /** Sequence number of the last entry committed before this writer started. */
  readonly committedSeq?: number;
  /** Sequence number of the last entry appended; with `readAfter`, bounds the memory queue. */
  readonly lastSeq?: number;
  /** Up to `limit` fsync'd entries after `seq`, in order. */
  readAfter?(seq: number, limit: number): Promise<JournalEntry[]>;
}

/** Entries held in memory by default when the cursor can read the rest back from the journal. */
export const DEFAULT_MAX_QUEUED = 10_000;

/** Options of {@link DatabaseWriter}. */
export interface DatabaseWriterOptions {
  /** Where batches are written. */
  store: TransitionStore;
  /** Where progress is recorded and the journal read back. */
  cursor: CommitCursor;
  /** Largest batch per database transaction. */
  maxBatch?: number;
  /**
   * Most batches in flight at once (default 1). On PostgreSQL a few concurrent transactions on disjoint
   * streamers keep the server busy while this process prepares the next; PGlite runs one at a time anyway.
   */
  concurrency?: number;
  /**
   * Entries that must be waiting before a batch starts beside one already in flight (default 50). Below it the
   * next batch waits for the one in flight and gathers what arrives meanwhile: at a steady rate, more small
   * transactions cost more than they save (bench 2); a backlog (a burst, a replay, a stalled commit) is where
   * concurrent batches pay (bench 3).
   */
  concurrentBacklog?: number;
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
  /** Called after each acknowledged batch (committed and journaled), e.g. for the latency histogram. */
  onCommitted?: (entries: JournalEntry[], committedAt: number) => void;
  /** Called with each failure (the writer keeps going). */
  onError?: (error: unknown) => void;
  /**
   * Called with transitions the database refused because their lease is no longer the streamer's (issue 16);
   * they are done with, not retried.
   */
  onRefused?: (refused: RefusedTransition[]) => void;
}

/** Whether an enqueued group of entries is in the journal: settles once its fsync has succeeded or failed. */
interface Durability {
  /** Resolves true once fsync'd, false if the journal write failed. */
  settled: Promise<boolean>;
  /** Known to have failed: the entries are dropped here (the pre-journal journals them again). */
  failed: boolean;
}

/** An entry with the durability of the journal write that carries it. */
interface Queued {
  seq: number;
  transition: Transition;
  entry: JournalEntry;
  durability: Durability;
}

const ALREADY_DURABLE: Durability = { settled: Promise.resolve(true), failed: false };

/** Writes journaled entries to the database; see the module documentation. */
export class DatabaseWriter {
  #queue: Queued[] = [];
  /** Batches taken from the queue and not yet acknowledged or returned. */
  #inFlight = new Set<Queued[]>();
  /** Streamers held by batches in flight. */
  #busy = new Set<string>();
  /** Highest sequence number queued (or committed before this writer started). */
  #queuedSeq: number;
  /** Highest sequence number acknowledged. */
  #doneSeq: number;
  /** The commit cursor last recorded. */
  #cursorSeq: number;
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
  /** No new batch starts before this time (backoff after a failure). */
  #retryAt = 0;
  #lastError: string | null = null;
  /** Entries acknowledged by this writer. */
  committed = 0;

  constructor(options: DatabaseWriterOptions) {
    this.#options = {
      maxBatch: 1_000,
      concurrency: 1,
      concurrentBacklog: 50,
      maxQueued: DEFAULT_MAX_QUEUED,
      retry: { baseMs: 200, capMs: 10_000 },
      writeTimeoutMs: 30_000,
      ...options,
    };
    this.#queuedSeq = options.cursor.committedSeq ?? 0;
    this.#doneSeq = this.#queuedSeq;
    this.#cursorSeq = this.#queuedSeq;
    // Whatever the journal holds past the cursor is read back by the loop, in order, a window at a time.
    this.#spilled = this.#canReread() && (options.cursor.lastSeq ?? 0) > this.#queuedSeq;
  }

  /** Entries waiting to be acknowledged (in memory, in flight and, past the window, in the journal). */
  get backlog(): number {
    const held = this.queued;
    const lastSeq = this.#options.cursor.lastSeq;
    if (this.#spilled && lastSeq !== undefined) {
      return held + Math.max(0, lastSeq - this.#queuedSeq);
    }
    return held;
  }

  /** Entries held in memory, queued or in flight (at most `maxQueued` when the journal can be read back). */
  get queued(): number {
    let held = this.#queue.length;
    for (const batch of this.#inFlight) held += batch.length;
    return held;
  }

  /** The last database error, while the writer is failing; null once a batch commits. */
  get lastError(): string | null {
    return this.#lastError;
  }

  /**
   * Queues entries and wakes the writer. `durable` settles when the journal write carrying them has been
   * fsync'd (or rejects if it failed); omitted, the entries are already durable (recovered, read back).
   */
  enqueue(entries: JournalEntry[], durable?: Promise<unknown>): void {
    if (entries.length === 0) return;
    const durability = durable === undefined ? ALREADY_DURABLE : this.#track(durable);
    const bounded = this.#canReread();
    for (const entry of entries) {
      const queued = { seq: entry.seq, transition: entry.transition, entry, durability };
      if (!bounded) {
        this.#queue.push(queued);
        continue;
      }
      // Already queued (read back from the journal before the appender handed it over) or behind a spill.
      if (entry.seq <= this.#queuedSeq || this.#spilled) continue;
      // Full, or not the next one (recovery returned only the first entries): read the rest from the journal.
      if (this.queued >= this.#options.maxQueued || entry.seq !== this.#queuedSeq + 1) {
        this.#spilled = true;
        continue;
      }
      this.#queue.push(queued);
      this.#queuedSeq = entry.seq;
    }
    this.#wake?.();
  }

  #track(durable: Promise<unknown>): Durability {
    const durability: Durability = { settled: Promise.resolve(true), failed: false };
    durability.settled = durable.then(
      () => true,
      () => {
        durability.failed = true;
        return false;
      },
    ).finally(() => this.#wake?.());
    return durability;
  }

  #canReread(): boolean {
    return this.#options.cursor.readAfter !== undefined &&
      this.#options.cursor.lastSeq !== undefined;
  }

  /** Refills the window from the journal once it has drained to half. */
  async #refill(): Promise<void> {
    const cursor = this.#options.cursor;
    if (!this.#spilled || cursor.readAfter === undefined) return;
    const room = this.#options.maxQueued - this.queued;
    if (room < this.#options.maxQueued / 2) return;
    const entries = await cursor.readAfter(this.#queuedSeq, room);
    for (const entry of entries) {
      if (entry.seq <= this.#queuedSeq) continue;
      this.#queue.push({
        seq: entry.seq,
        transition: entry.transition,
        entry,
        durability: ALREADY_DURABLE,
      });
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

  /** Writes everything queued now, one batch at a time; for one-shot commands and tests. Throws on a database error. */
  async flush(): Promise<void> {
    await this.#refill();
    while (this.#queue.length > 0 || this.#inFlight.size > 0) {
      const batch = this.#take();
      if (batch === null) {
        // Only batches of the running loop remain: wait for them.
        await sleep(5);
      } else {
        await this.#writeBatch(batch);
      }
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
      const wait = this.#retryAt - Date.now();
      if (wait > 0) {
        await this.#sleepUnlessStopping(wait);
        continue;
      }
      while (this.#inFlight.size < this.#options.concurrency && !this.#stopping) {
        const batch = this.#take();
        if (batch === null) break;
        void this.#writeBatch(batch).then(() => {
          this.#failures = 0;
          this.#lastError = null;
        }, (error) => this.#failed(error, batch.length));
      }
      // Woken by an enqueue, a batch finishing, or a journal write settling; an append still being written
      // while spilled is in the journal within moments.
      await new Promise<void>((resolve) => {
        const timer = this.#spilled ? setTimeout(resolve, 50) : undefined;
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    // Stopping: let the batches in flight finish (stop() bounds how long).
    while (this.#inFlight.size > 0) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }

  #failed(error: unknown, size: number): void {
    this.#failures++;
    this.#lastError = describeError(error);
    this.#options.onError?.(error);
    const delay = backoffDelay(this.#failures - 1, this.#options.retry);
    this.#retryAt = Date.now() + delay;
    log.warn("database write failed; transitions stay in the journal and will be retried", {
      error: this.#lastError,
      batch: size,
      backlog: this.backlog,
      retryInMs: delay,
    });
  }

  async #sleepUnlessStopping(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        if (this.#stopping) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
    this.#wake = null;
  }

  /** Takes the next batch that may run beside those in flight, or null. */
  #take(): Queued[] | null {
    // Entries whose journal write failed are journaled again under new numbers: not written under these.
    if (this.#queue.some((q) => q.durability.failed)) {
      this.#queue = this.#queue.filter((q) => !q.durability.failed);
    }
    if (this.#queue.length === 0) return null;
    if (this.#inFlight.size > 0 && this.#queue.length < this.#options.concurrentBacklog) {
      return null;
    }
    const concurrency = this.#options.concurrency;
    const { batch, rest } = pickBatch(this.#queue, this.#busy, {
      maxBatch: this.#options.maxBatch,
      maxStreamers: concurrency > 1
        ? Math.ceil(this.#options.maxBatch / concurrency)
        : this.#options.maxBatch,
    });
    if (batch.length === 0) return null;
    this.#queue = rest;
    this.#inFlight.add(batch);
    for (const slug of streamersOf(batch)) this.#busy.add(slug);
    return batch;
  }

  /** Writes a taken batch; acknowledges it once committed and journaled, or returns it to the queue. */
  async #writeBatch(batch: Queued[]): Promise<void> {
    let result: ApplyResult;
    try {
      result = await withTimeout(
        this.#options.store.applyTransitions(batch.map((q) => q.transition), {
          inTransaction: this.#options.inTransaction,
        }),
        this.#options.writeTimeoutMs,
        `writing ${batch.length} transitions`,
      );
    } catch (error) {
      this.#release(batch);
      this.#queue = mergeBySeq(this.#queue, batch);
      throw error;
    }
    // The transaction ran while the journal synced; the batch is done only when both are.
    await Promise.all([...new Set(batch.map((q) => q.durability))].map((d) => d.settled));
    const committedAt = Date.now();
    const done = batch.filter((q) => !q.durability.failed);
    this.#release(batch);
    this.committed += done.length;
    for (const q of done) this.#doneSeq = Math.max(this.#doneSeq, q.seq);
    this.#advanceCursor();
    // Refused rows (a lease no longer ours, issue 16) are done with, not retried, and not acknowledged.
    const refused = new Set((result.refused ?? []).map((r) => r.transition.dedupeKey));
    if (refused.size > 0) this.#options.onRefused?.(result.refused!);
    const acknowledged = done.filter((q) => !refused.has(q.transition.dedupeKey));
    if (acknowledged.length > 0) {
      this.#options.onCommitted?.(acknowledged.map((q) => q.entry), committedAt);
    }
  }

  #release(batch: Queued[]): void {
    this.#inFlight.delete(batch);
    for (const slug of streamersOf(batch)) this.#busy.delete(slug);
    this.#wake?.();
  }

  /**
   * Moves the commit cursor past everything acknowledged with nothing pending before it. The cursor only
   * shortens the replay after a crash (replaying committed entries is a no-op), so no batch waits for its fsync.
   */
  #advanceCursor(): void {
    let lowest: number | null = this.#queue.length > 0 ? this.#queue[0].seq : null;
    for (const batch of this.#inFlight) {
      if (lowest === null || batch[0].seq < lowest) lowest = batch[0].seq;
    }
    const seq = commitWatermark(lowest, this.#doneSeq);
    if (seq <= this.#cursorSeq) return;
    this.#cursorSeq = seq;
    this.#cursorWrite = this.#cursorWrite
      .then(() => this.#options.cursor.markCommitted(seq))
      .catch((error) =>
        log.warn("could not record the commit cursor; a restart replays more", {
          error: describeError(error),
        })
      );
  }
}
