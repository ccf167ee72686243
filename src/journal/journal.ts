/**
 * The durable journal: every transition is appended and fsync'd here before it is acknowledged (its database
 * transaction runs meanwhile, src/journal/database_writer.ts). A cursor file records the last sequence number the database has committed, so after a crash or
 * a database outage the entries past the cursor are written again, in order (the database ignores replays by
 * their dedupe key).
 *
 * Format: one JSON object per line, `{"seq":N,"transition":{…}}`. A line cut short by a crash is ignored; a
 * corrupted line in the middle is skipped, counted and logged, and the rest is kept. The journal holding it is
 * quarantined once (kept aside as `journal.quarantine-<time>.jsonl`) and replaced by its readable entries, so
 * the same corruption is not reported again at every start.
 *
 * Memory is bounded however large the file grows during a long database outage: the file is read as a stream,
 * in chunks, never whole; a line longer than {@link MAX_LINE_BYTES} is corrupt and skipped without being kept;
 * recovery returns at most `maxPending` entries, and the database writer reads the rest with `readAfter` as its
 * bounded queue drains (src/journal/database_writer.ts).
 */
import { join } from "node:path";
import { serializeTransition, type Transition } from "../domain/types.ts";
import { log } from "../lib/log.ts";
import {
  MAX_LINE_BYTES,
  parseLine,
  quarantineJournal,
  scanLines,
  writeFileDurably,
} from "./journal_file.ts";

export { MAX_LINE_BYTES };

export interface JournalEntry {
  seq: number;
  transition: Transition;
}

export interface JournalRecovery {
  /** Entries not yet committed to the database, in order: the first `maxPending` of them. */
  pending: JournalEntry[];
  /** How many entries are not yet committed (`pending` holds the first of them; `readAfter` gives the rest). */
  pendingTotal: number;
  /**
   * The last uncommitted transition of each streamer, in journal order (bounded by the number of streamers,
   * however long the backlog): what a previous run last decided, even when `pending` holds only the beginning.
   */
  latestPerSlug: Transition[];
  /** Lines that could not be read (corruption); skipped. */
  corruptLines: number;
  /** A partial last line (a crash during a write); ignored. */
  truncatedTail: boolean;
}

const JOURNAL_FILE = "journal.jsonl";
const CURSOR_FILE = "journal.cursor";
/** Compact (start a fresh file) once everything is committed and the file has grown past this. */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;
/** Entries recovery returns by default; the rest are read with `readAfter` when the writer has room. */
export const DEFAULT_MAX_RECOVERED = 10_000;

const encoder = new TextEncoder();

/** Transitions numbered for one write to the file and its fsync. */
interface FormingGroup {
  chunks: Uint8Array[];
  lastSeq: number;
  synced: Promise<void>;
}

function concatBytes(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

export class Journal {
  readonly dir: string;
  #file: Deno.FsFile | null = null;
  #nextSeq = 1;
  #committedSeq = 0;
  /** The last sequence number fsync'd: `readAfter` returns nothing past it. */
  #syncedSeq = 0;
  /** Transitions numbered and waiting for the next write to the file (see `write`). */
  #forming: FormingGroup | null = null;
  /** Why the last write failed; until `clearFailure()`, later groups fail too (see `write`). */
  #failure: string | null = null;
  #bytes = 0;
  #compactAfterBytes = COMPACT_AFTER_BYTES;
  /**
   * File operations (append, compaction) run one at a time: a compaction that closed and truncated the file
   * under an append in flight would fail that append, or lose it with the old file.
   */
  #fileQueue: Promise<unknown> = Promise.resolve();
  #cursorQueue: Promise<unknown> = Promise.resolve();
  /** Where `readAfter` can resume: the byte offset just past the entry with sequence number `seq`. */
  #readHint: { seq: number; offset: number } | null = null;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Opens (creating 0700/0600 if needed) the journal in `dir` and reads back what the database has not committed.
   */
  static async open(
    dir: string,
    options: { maxPending?: number; compactAfterBytes?: number } = {},
  ): Promise<{ journal: Journal; recovery: JournalRecovery }> {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const journal = new Journal(dir);
    journal.#compactAfterBytes = options.compactAfterBytes ?? COMPACT_AFTER_BYTES;
    const recovery = await journal.#recover(options.maxPending ?? DEFAULT_MAX_RECOVERED);
    journal.#file = await Deno.open(join(dir, JOURNAL_FILE), {
      append: true,
      create: true,
      mode: 0o600,
    });
    return { journal, recovery };
  }

  /** Sequence number of the last entry the database has committed. */
  get committedSeq(): number {
    return this.#committedSeq;
  }

  /** Entries appended but not yet committed. */
  get backlog(): number {
    return this.#nextSeq - 1 - this.#committedSeq;
  }

  /** Sequence number of the last entry appended (0 when there is none). */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /**
   * Reads back up to `limit` entries with a sequence number above `seq`, in order, streaming the file (for the
   * database writer, which keeps only a bounded window in memory). Unreadable lines are skipped, and so are
   * entries not yet fsync'd.
   */
  async readAfter(seq: number, limit: number): Promise<JournalEntry[]> {
    const synced = this.#syncedSeq;
    if (limit <= 0 || seq >= synced) return [];
    const hint = this.#readHint;
    const from = hint !== null && hint.seq <= seq ? hint.offset : 0;
    const entries: JournalEntry[] = [];
    let lastOffset = from;
    await scanLines(join(this.dir, JOURNAL_FILE), from, (line, end) => {
      const entry = line === null ? null : parseLine(line);
      if (entry === null || entry.seq <= seq) return true;
      // Past the last fsync: in the file, maybe, but not yet durable (its append acknowledges it).
      if (entry.seq > synced) return false;
      entries.push(entry);
      lastOffset = end;
      return entries.length < limit;
    });
    if (entries.length > 0) {
      this.#readHint = { seq: entries[entries.length - 1].seq, offset: lastOffset };
    }
    return entries;
  }

  /** Appends transitions and fsyncs once for the whole group; returns their entries. */
  async append(transitions: Transition[]): Promise<JournalEntry[]> {
    const { entries, synced } = this.write(transitions);
    await synced;
    return entries;
  }

  /**
   * Numbers transitions at once and queues them for the file: `synced` resolves once they are fsync'd, or
   * rejects if the file refused them. Transitions written while an earlier group is being synced form the
   * next group together, one write and one fsync for all (group commit). The database writer starts their
   * transaction meanwhile and acknowledges them only when both are done (src/journal/database_writer.ts).
   *
   * Once a group fails, every group after it fails too until `clearFailure()`: the caller takes them all
   * back and writes them again in their order (src/journal/pre_journal.ts), so a streamer's transitions never
   * land in the journal out of order.
   */
  write(transitions: Transition[]): { entries: JournalEntry[]; synced: Promise<void> } {
    if (transitions.length === 0) return { entries: [], synced: Promise.resolve() };
    if (this.#file === null) throw new Error("The journal is closed");
    const entries = transitions.map((transition) => ({ seq: this.#nextSeq++, transition }));
    const text = entries.map((entry) =>
      JSON.stringify({ seq: entry.seq, transition: serializeTransition(entry.transition) }) + "\n"
    ).join("");
    const bytes = encoder.encode(text);
    const lastSeq = entries[entries.length - 1].seq;
    if (this.#forming !== null) {
      this.#forming.chunks.push(bytes);
      this.#forming.lastSeq = lastSeq;
      return { entries, synced: this.#forming.synced };
    }
    const group: FormingGroup = { chunks: [bytes], lastSeq, synced: Promise.resolve() };
    this.#forming = group;
    group.synced = this.#exclusive(async () => {
      // From here on, new transitions form the next group.
      if (this.#forming === group) this.#forming = null;
      if (this.#failure !== null) {
        throw new Error(`An earlier journal write failed: ${this.#failure}`);
      }
      try {
        if (this.#file === null) throw new Error("The journal is closed");
        const data = group.chunks.length === 1 ? group.chunks[0] : concatBytes(group.chunks);
        let written = 0;
        while (written < data.length) written += await this.#file.write(data.subarray(written));
        await this.#file.syncData();
        this.#bytes += data.length;
        this.#syncedSeq = group.lastSeq;
      } catch (error) {
        this.#failure = error instanceof Error ? error.message : String(error);
        throw error;
      }
    });
    return { entries, synced: group.synced };
  }

  /** Lets writes through again after a failure, once the caller has taken back every group that failed. */
  clearFailure(): void {
    this.#failure = null;
  }

  /** Runs `operation` after every file operation queued before it. */
  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#fileQueue.then(operation);
    this.#fileQueue = result.catch(() => {});
    return result;
  }

  /** Records that the database has committed every entry up to `seq`; compacts when everything is. */
  async markCommitted(seq: number): Promise<void> {
    if (seq <= this.#committedSeq) return;
    this.#committedSeq = seq;
    // Cursor writes go one at a time (they share a temporary file), the newest number last.
    const write = this.#cursorQueue.then(() =>
      writeFileDurably(join(this.dir, CURSOR_FILE), `${this.#committedSeq}\n`)
    );
    this.#cursorQueue = write.catch(() => {});
    await write;
    if (this.backlog === 0 && this.#bytes > this.#compactAfterBytes) {
      await this.#exclusive(() => this.#compact());
    }
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
  }

  async #compact(): Promise<void> {
    // An append numbered after the check above may have been queued ahead of us: then the file is still needed.
    if (this.backlog !== 0 || this.#file === null) return;
    // Everything is committed: a fresh file loses nothing. Sequence numbers keep growing across compactions.
    this.#file.close();
    const path = join(this.dir, JOURNAL_FILE);
    await writeFileDurably(path, "");
    this.#file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
    this.#bytes = 0;
    this.#readHint = null;
  }

  async #recover(maxPending: number): Promise<JournalRecovery> {
    let cursorText = "";
    try {
      cursorText = await Deno.readTextFile(join(this.dir, CURSOR_FILE));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const cursor = Number(cursorText.trim());
    if (cursorText.trim() !== "" && (!Number.isSafeInteger(cursor) || cursor < 0)) {
      log.error(
        "journal cursor is unreadable; replaying the whole journal (replays are harmless)",
        {
          cursor: cursorText.slice(0, 40),
        },
      );
    }
    this.#committedSeq = Number.isSafeInteger(cursor) && cursor > 0 ? cursor : 0;

    const tally = new RecoveryTally(this.#committedSeq, maxPending);
    const path = join(this.dir, JOURNAL_FILE);
    const scan = await scanLines(path, 0, (line) => tally.add(line));
    this.#bytes = scan.completeBytes;
    const recovery = tally.result(scan.partialTail);
    const lastSeq = recovery.lastSeq;
    this.#nextSeq = Math.max(lastSeq, this.#committedSeq) + 1;
    this.#syncedSeq = this.#nextSeq - 1;
    if (recovery.truncatedTail) {
      log.warn(
        "journal ended in a partial line (a crash during a write); it was never acknowledged",
      );
    }
    if (recovery.corruptLines > 0) {
      // Quarantined once: the next start reads a clean journal and has nothing to report again.
      const { quarantine, bytes } = await quarantineJournal(this.dir, path);
      this.#bytes = bytes;
      log.error(
        "journal had corrupted lines; they were skipped, and the journal as it was is kept aside",
        { lines: recovery.corruptLines, quarantine },
      );
    } else if (recovery.truncatedTail) {
      await this.#dropPartialTail(path, scan.completeBytes);
    }
    return {
      pending: recovery.pending,
      pendingTotal: recovery.pendingTotal,
      latestPerSlug: recovery.latestPerSlug,
      corruptLines: recovery.corruptLines,
      truncatedTail: recovery.truncatedTail,
    };
  }

  async #dropPartialTail(path: string, completeBytes: number): Promise<void> {
    const file = await Deno.open(path, { write: true });
    try {
      await file.truncate(completeBytes);
      await file.syncData();
    } finally {
      file.close();
    }
  }
}

/** Counts journal lines the way recovery needs, keeping at most `maxPending` entries. */
class RecoveryTally {
  readonly #committedSeq: number;
  readonly #maxPending: number;
  readonly pending: JournalEntry[] = [];
  readonly #latest = new Map<string, Transition>();
  pendingTotal = 0;
  corruptLines = 0;
  lastSeq = 0;

  constructor(committedSeq: number, maxPending: number) {
    this.#committedSeq = committedSeq;
    this.#maxPending = maxPending;
  }

  /** One complete line (null: a line too long to keep, which is corrupt); always asks for more. */
  add(line: string | null): boolean {
    if (line !== null && line.trim() === "") return true;
    const entry = line === null ? null : parseLine(line);
    if (entry === null || entry.seq <= this.lastSeq) {
      this.corruptLines++;
      return true;
    }
    this.lastSeq = entry.seq;
    if (entry.seq > this.#committedSeq) {
      this.pendingTotal++;
      if (this.pending.length < this.#maxPending) this.pending.push(entry);
      this.#latest.delete(entry.transition.slug);
      this.#latest.set(entry.transition.slug, entry.transition);
    }
    return true;
  }

  result(truncatedTail: boolean): JournalRecovery & { lastSeq: number } {
    return {
      pending: this.pending,
      pendingTotal: this.pendingTotal,
      latestPerSlug: [...this.#latest.values()],
      corruptLines: this.corruptLines,
      truncatedTail,
      lastSeq: this.lastSeq,
    };
  }
}

/** Parses journal text; pure, for tests. Returns entries after `committedSeq`, in order. */
export function parseJournal(
  text: string,
  committedSeq: number,
): JournalRecovery & { lastSeq: number } {
  const lines = text.split("\n");
  const truncatedTail = lines[lines.length - 1] !== "";
  // The last element is "" after a final newline, or a partial line cut short by a crash: never complete.
  const tally = new RecoveryTally(committedSeq, Infinity);
  for (const line of lines.slice(0, -1)) tally.add(line);
  return tally.result(truncatedTail);
}
