/**
 * The durable journal: every transition is appended and fsync'd here before it is acknowledged, then written to
 * the database. A cursor file records the last sequence number the database has committed, so after a crash or
 * a database outage the entries past the cursor are written again, in order (the database ignores replays by
 * their dedupe key).
 *
 * Format: one JSON object per line, `{"seq":N,"transition":{…}}`. A line cut short by a crash is ignored; a
 * corrupted line in the middle is skipped, counted and logged, and the rest is kept.
 */
import { join } from "node:path";
import {
  deserializeTransition,
  type SerializedTransition,
  serializeTransition,
  type Transition,
} from "../domain/types.ts";
import { log } from "../lib/log.ts";

export interface JournalEntry {
  seq: number;
  transition: Transition;
}

export interface JournalRecovery {
  /** Entries not yet committed to the database, in order. */
  pending: JournalEntry[];
  /** Lines that could not be read (corruption); skipped. */
  corruptLines: number;
  /** A partial last line (a crash during a write); ignored. */
  truncatedTail: boolean;
}

const JOURNAL_FILE = "journal.jsonl";
const CURSOR_FILE = "journal.cursor";
/** Compact (start a fresh file) once everything is committed and the file has grown past this. */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;

const encoder = new TextEncoder();

export class Journal {
  readonly dir: string;
  #file: Deno.FsFile | null = null;
  #nextSeq = 1;
  #committedSeq = 0;
  #bytes = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Opens (creating 0700/0600 if needed) the journal in `dir` and reads back what the database has not committed.
   */
  static async open(dir: string): Promise<{ journal: Journal; recovery: JournalRecovery }> {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const journal = new Journal(dir);
    const recovery = await journal.#recover();
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

  /** Appends transitions and fsyncs once for the whole group; returns their entries. */
  async append(transitions: Transition[]): Promise<JournalEntry[]> {
    if (transitions.length === 0) return [];
    if (this.#file === null) throw new Error("The journal is closed");
    const entries = transitions.map((transition) => ({ seq: this.#nextSeq++, transition }));
    const text = entries.map((entry) =>
      JSON.stringify({ seq: entry.seq, transition: serializeTransition(entry.transition) }) + "\n"
    ).join("");
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
    await this.#file.syncData();
    this.#bytes += bytes.length;
    return entries;
  }

  /** Records that the database has committed every entry up to `seq`; compacts when everything is. */
  async markCommitted(seq: number): Promise<void> {
    if (seq <= this.#committedSeq) return;
    this.#committedSeq = seq;
    await writeFileDurably(join(this.dir, CURSOR_FILE), `${seq}\n`);
    if (this.backlog === 0 && this.#bytes > COMPACT_AFTER_BYTES) await this.#compact();
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
  }

  async #compact(): Promise<void> {
    // Everything is committed: a fresh file loses nothing. Sequence numbers keep growing across compactions.
    this.#file?.close();
    const path = join(this.dir, JOURNAL_FILE);
    await writeFileDurably(path, "");
    this.#file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
    this.#bytes = 0;
  }

  async #recover(): Promise<JournalRecovery> {
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

    let text = "";
    try {
      text = await Deno.readTextFile(join(this.dir, JOURNAL_FILE));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    this.#bytes = encoder.encode(text).length;
    const recovery = parseJournal(text, this.#committedSeq);
    const lastSeq = recovery.lastSeq;
    this.#nextSeq = Math.max(lastSeq, this.#committedSeq) + 1;
    if (recovery.truncatedTail) {
      log.warn(
        "journal ended in a partial line (a crash during a write); it was never acknowledged",
      );
      await this.#dropPartialTail(text);
    }
    if (recovery.corruptLines > 0) {
      log.error("journal had corrupted lines; they were skipped", { lines: recovery.corruptLines });
    }
    return {
      pending: recovery.pending,
      corruptLines: recovery.corruptLines,
      truncatedTail: recovery.truncatedTail,
    };
  }

  async #dropPartialTail(text: string): Promise<void> {
    const keep = text.slice(0, text.lastIndexOf("\n") + 1);
    await writeFileDurably(join(this.dir, JOURNAL_FILE), keep);
    this.#bytes = encoder.encode(keep).length;
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
  const complete = lines.slice(0, -1);
  const pending: JournalEntry[] = [];
  let corruptLines = 0;
  let lastSeq = 0;
  for (const line of complete) {
    if (line.trim() === "") continue;
    const entry = parseLine(line);
    if (entry === null || entry.seq <= lastSeq) {
      corruptLines++;
      continue;
    }
    lastSeq = entry.seq;
    if (entry.seq > committedSeq) pending.push(entry);
  }
  return { pending, corruptLines, truncatedTail, lastSeq };
}

function parseLine(line: string): JournalEntry | null {
  try {
    const value = JSON.parse(line) as { seq?: unknown; transition?: SerializedTransition };
    const t = value.transition;
    if (
      typeof value.seq !== "number" || !Number.isSafeInteger(value.seq) || typeof t !== "object" ||
      t === null || typeof t.dedupeKey !== "string" || typeof t.slug !== "string" ||
      (t.type !== "online" && t.type !== "offline") || Number.isNaN(Date.parse(t.occurredAt)) ||
      Number.isNaN(Date.parse(t.receivedAt))
    ) {
      return null;
    }
    return { seq: value.seq, transition: deserializeTransition(t) };
  } catch {
    return null;
  }
}

/** Writes a whole file through a temporary file, fsync and rename, so a crash leaves the old or the new. */
async function writeFileDurably(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp`;
  const file = await Deno.open(temporary, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  try {
    await file.write(encoder.encode(text));
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(temporary, path);
}
