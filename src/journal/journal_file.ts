/**
 * The journal's file format and the file operations it needs: JSON lines read back in pieces (a line longer
 * than MAX_LINE_BYTES is skipped, not held), durable writes, and quarantining a corrupt journal once.
 */
import { join } from "node:path";
import { deserializeTransition, type SerializedTransition } from "../domain/types.ts";
import type { JournalEntry } from "./journal.ts";

const encoder = new TextEncoder();

/** A journal line is about 1 KB; a "line" longer than this is corruption, skipped without being held. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Bytes read from the file at a time. */
const READ_CHUNK_BYTES = 64 * 1024;

/**
 * Moves the journal as it is aside to `journal.quarantine-<time>.jsonl` (0600) and replaces it with its
 * readable entries only, so corrupted lines are kept for a post-mortem but skipped (and reported) once. The
 * quarantine is a hard link to the old file, made before the clean copy replaces it by a rename: a crash at
 * any point leaves the journal whole, at worst still corrupt (quarantined again at the next start).
 * Returns the quarantine file's path.
 */
export async function quarantineJournal(
  dir: string,
  path: string,
): Promise<{ quarantine: string; bytes: number }> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const quarantine = join(dir, `journal.quarantine-${stamp}.jsonl`);
  try {
    await Deno.link(path, quarantine);
  } catch {
    await Deno.copyFile(path, quarantine);
  }
  await Deno.chmod(quarantine, 0o600);
  const temporary = `${path}.tmp`;
  const out = await Deno.open(temporary, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  let bytes = 0;
  try {
    // The same rule as recovery: a readable entry numbered after the last one kept. Streamed, line by line
    // (synchronous writes inside the scan), so a long journal is never held in memory.
    let lastSeq = 0;
    await scanLines(quarantine, 0, (line) => {
      const entry = line === null ? null : parseLine(line);
      if (entry === null || entry.seq <= lastSeq) return true;
      lastSeq = entry.seq;
      const encoded = encoder.encode(line + "\n");
      let written = 0;
      while (written < encoded.length) written += out.writeSync(encoded.subarray(written));
      bytes += encoded.length;
      return true;
    });
    await out.syncData();
  } finally {
    out.close();
  }
  await Deno.rename(temporary, path);
  return { quarantine, bytes };
}

/**
 * Streams the complete lines of a file from byte `from`, in chunks: `onLine(line, endOffset)` gets each line
 * (without its newline; null when it was longer than MAX_LINE_BYTES) and the offset just past it, and returns
 * false to stop. A missing file has no lines. Returns the offset past the last complete line and whether bytes
 * without a final newline follow it (a write cut short).
 */
export async function scanLines(
  path: string,
  from: number,
  onLine: (line: string | null, endOffset: number) => boolean,
): Promise<{ completeBytes: number; partialTail: boolean }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { completeBytes: 0, partialTail: false };
    throw error;
  }
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(READ_CHUNK_BYTES);
  let pieces: Uint8Array[] = [];
  let pieceBytes = 0;
  let oversized = false;
  let offset = from;
  let completeBytes = from;
  try {
    if (from > 0) await file.seek(from, Deno.SeekMode.Start);
    for (;;) {
      const read = await file.read(buffer);
      if (read === null) break;
      let start = 0;
      while (start < read) {
        const newline = buffer.subarray(start, read).indexOf(10);
        const end = newline === -1 ? read : start + newline;
        const chunk = buffer.subarray(start, end);
        if (!oversized && pieceBytes + chunk.length > MAX_LINE_BYTES) {
          oversized = true;
          pieces = [];
        }
        if (!oversized) pieces.push(chunk.slice());
        pieceBytes += chunk.length;
        offset += end - start;
        if (newline === -1) break;
        offset += 1;
        completeBytes = offset;
        const line = oversized ? null : decoder.decode(concat(pieces, pieceBytes));
        pieces = [];
        pieceBytes = 0;
        oversized = false;
        if (!onLine(line, offset)) return { completeBytes, partialTail: false };
        start = end + 1;
      }
    }
  } finally {
    file.close();
  }
  return { completeBytes, partialTail: pieceBytes > 0 };
}

function concat(pieces: Uint8Array[], length: number): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

export function parseLine(line: string): JournalEntry | null {
  try {
    const value = JSON.parse(line) as { seq?: unknown; transition?: SerializedTransition };
    const t = value.transition;
    if (
      typeof value.seq !== "number" || !Number.isSafeInteger(value.seq) || typeof t !== "object" ||
      t === null || typeof t.dedupeKey !== "string" || typeof t.slug !== "string" ||
      (t.type !== "online" && t.type !== "offline" && t.type !== "title") ||
      Number.isNaN(Date.parse(t.occurredAt)) ||
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
export async function writeFileDurably(path: string, text: string): Promise<void> {
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
