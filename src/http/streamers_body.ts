/**
 * The body of `GET /api/v1/streamers` (10,000 streamers: ~2.5 MB of JSON, ~120 KB gzipped), built so that no
 * request waits for more than joining strings (bench 8, issue 14 item 6: p99 ≤ 50 ms):
 *
 * - each document's JSON is kept while the document object lives (streamer_snapshot.ts: documentJson; the
 *   snapshot keeps the objects of streamers that did not change), so a transition re-encodes one streamer,
 *   not 10,000, and a re-read that finds nothing new re-encodes nothing;
 * - the gzip variant is compressed in the background after a change (25–50 ms for 2.5 MB, measured): until it
 *   is ready, a client that takes gzip gets the identity body, which is always current (a server may always
 *   answer without a content coding, RFC 9110 §12.5.3); afterwards it gets the same gzip bytes every time.
 *   It is fed in 64 KB slices with a turn of the event loop between them: CompressionStream given the whole
 *   body compresses it in one go, and every request waited for that (an event-loop gap of 15–50 ms,
 *   measured, against ~5 ms sliced).
 */
import { createHash } from "node:crypto";
import type { StreamerDocument } from "../domain/documents.ts";
import { documentJson } from "./streamer_snapshot.ts";

/** One version of the body, in both encodings. */
export interface StreamersBody {
  /** The JSON, exactly `JSON.stringify(documents)`. */
  identity: Uint8Array<ArrayBuffer>;
  /** Its strong ETag (the first 96 bits of its SHA-256). */
  etag: string;
  /** The gzip variant once compressed, else null. */
  gzip: Uint8Array<ArrayBuffer> | null;
  /** Resolves when `gzip` is set (tests). */
  gzipped: Promise<void>;
}

/** Builds the body of `documents`: the identity variant at once, gzip in the background. */
export function streamersBody(documents: readonly StreamerDocument[]): StreamersBody {
  // JSON.stringify of an array is its elements' JSON joined by commas in brackets: the same bytes.
  const identity = new TextEncoder().encode(`[${documents.map(documentJson).join(",")}]`);
  const etag = `"${createHash("sha256").update(identity).digest("hex").slice(0, 24)}"`;
  const body: StreamersBody = { identity, etag, gzip: null, gzipped: Promise.resolve() };
  body.gzipped = gzipInSlices(identity).then((gzip) => {
    body.gzip = gzip;
  }, () => {
    // Compression cannot fail on bytes in memory; were it to, the identity body still answers.
  });
  return body;
}

/** Bytes compressed per turn of the event loop. */
const GZIP_SLICE = 64 * 1024;

/** gzip of `bytes`, a slice per turn of the event loop (see the module comment). */
export async function gzipInSlices(
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new CompressionStream("gzip");
  const compressed = new Response(stream.readable).arrayBuffer();
  const writer = stream.writable.getWriter();
  for (let start = 0; start < bytes.length; start += GZIP_SLICE) {
    await writer.write(bytes.subarray(start, start + GZIP_SLICE));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await writer.close();
  return new Uint8Array(await compressed);
}
