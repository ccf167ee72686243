/**
 * The read API (interface.md, "Web status page and read API"), served by the daemon on KICK_MONITOR_HTTP:
 *
 * - `GET /api/v1/streamers`: the same JSON as `streamers list --json` (src/domain/documents.ts builds both);
 * - `GET /api/v1/events?streamer=&since=&limit=&cursor=&types=`: as `events list --json`, newest first, with
 *   a `Link: <…>; rel="next"` header while there is more (the cursor is the last item's place in the order);
 *   `types=online,offline,title` adds title changes (online and offline only by default, as documented);
 * - `GET /api/v1/streamers/{slug}/sessions?limit=`: as `streamers history --json`;
 * - `GET /api/v1/stream?types=`: Server-Sent Events, one `transition` event per committed transition (title
 *   changes only when `types` asks for them, as for events), and a `viewers` event with a live streamer's
 *   first viewer count;
 * - `GET /badge/{slug}.svg`: live / offline, shields-style;
 * - `GET /export/sessions.csv?streamer=`: sessions as CSV.
 *
 * JSON, badge and CSV answers carry an ETag (a 304 for a matching If-None-Match) and `Cache-Control: no-cache`;
 * every answer a strict Content-Security-Policy (access.ts). Titles are written by streamers: they are escaped for SVG and neutralised
 * for spreadsheets in CSV.
 */
import { eventDocument, sessionDocument, streamerDocument } from "../domain/documents.ts";
import type { Transition, TransitionType } from "../domain/types.ts";
import { DEFAULT_EVENT_TYPES, parseEventTypes } from "../domain/event_types.ts";
import { normaliseSlug } from "../domain/slug.ts";
import type { Store } from "../store/store.ts";
import { SECURITY_HEADERS } from "./access.ts";
import type { Route } from "./server.ts";
import type { StreamerSnapshot } from "./streamer_snapshot.ts";
import { streamersBody } from "./streamers_body.ts";
import type { ViewerCount } from "../monitor/viewer_counts.ts";

/** Where the read API gets its data; either may be absent while the daemon starts. */
export interface ReadApiOptions {
  store: () => Store | null;
  /** Subscribes to committed transitions (Monitor.onCommitted); returns the unsubscribe. */
  subscribe: (listener: (transitions: Transition[]) => void) => (() => void) | null;
  /** Between SSE comments that keep idle connections (and proxies) open, ms. */
  heartbeatMs?: number;
  /**
   * The daemon's in-memory streamer documents (shared with the status page): `/api/v1/streamers` answers
   * from it, serialised once per change, instead of reading every streamer per request.
   */
  snapshot?: StreamerSnapshot;
  /** The latest viewer count of a live streamer (Monitor.viewers), sent with a transition to online. */
  viewers?: (slug: string) => ViewerCount | null;
  /** Subscribes to each live streamer's first viewer count (ViewerCounts.onFirstCount), sent as `viewers`. */
  subscribeFirstCounts?: (
    listener: (slug: string, count: ViewerCount) => void,
  ) => (() => void) | null;
}

const MAX_LIMIT = 1_000;

/** The read API's routes, for startHttpServer. */
export function readApiRoutes(options: ReadApiOptions): Route[] {
  return [
    {
      path: "/api/v1/streamers",
      handle: (request) =>
        options.snapshot === undefined
          ? withStore(
            options,
            async (store) => json(request, (await store.listStreamers()).map(streamerDocument)),
          )
          : streamersFromSnapshot(request, options.snapshot),
    },
    {
      path: "/api/v1/events",
      handle: (request) => withStore(options, (store) => events(request, store)),
    },
    {
      path: /^\/api\/v1\/streamers\/([^/]+)\/sessions$/,
      handle: (request, [slug]) => withStore(options, (store) => sessions(request, store, slug)),
    },
    {
      path: "/api/v1/stream",
      handle: (request) => {
        const types = typesOf(new URL(request.url));
        if ("problem" in types) return problem(400, `types: ${types.problem}`);
        return stream(options, types.types);
      },
    },
    {
      path: /^\/badge\/([^/]+)\.svg$/,
      handle: (request, [slug]) => withStore(options, (store) => badge(request, store, slug)),
    },
    {
      path: "/export/sessions.csv",
      handle: (request) => withStore(options, (store) => sessionsCsv(request, store)),
    },
  ];
}

async function withStore(
  options: ReadApiOptions,
  answer: (store: Store) => Promise<Response>,
): Promise<Response> {
  const store = options.store();
  if (store === null) return problem(503, "the monitor is starting; try again in a moment");
  return await answer(store);
}

function problem(status: number, message: string): Response {
  return new Response(JSON.stringify({ error: { message } }), {
    status,
    headers: { "content-type": "application/json", ...SECURITY_HEADERS },
  });
}

async function streamersFromSnapshot(
  request: Request,
  snapshot: StreamerSnapshot,
): Promise<Response> {
  const documents = await snapshot.documents();
  if (documents === null) return problem(503, "the monitor is starting; try again in a moment");
  const body = snapshot.derived("api/v1/streamers", documents, () => streamersBody(documents));
  const headers = { "content-type": "application/json", vary: "accept-encoding" };
  // Identity while the gzip variant is being compressed (always current), and to a client that revalidates
  // the identity body it holds (a 304 then, not the same JSON again, gzipped).
  if (
    body.gzip === null || !/\bgzip\b/i.test(request.headers.get("accept-encoding") ?? "") ||
    request.headers.get("if-none-match") === body.etag
  ) {
    return await withEtag(request, body.identity, headers, 200, body.etag);
  }
  // Each encoding its own strong ETag (RFC 9110 §8.8.3).
  return await withEtag(
    request,
    body.gzip,
    { ...headers, "content-encoding": "gzip" },
    200,
    body.etag.replace(/"$/, '-gz"'),
  );
}

/** A JSON document with its ETag; 304 when the client has it already. */
function json(
  request: Request,
  document: unknown,
  extra: Record<string, string> = {},
): Promise<Response> {
  return withEtag(request, JSON.stringify(document), {
    "content-type": "application/json",
    ...extra,
  });
}

/**
 * An answer with an ETag (a digest of the body) and `Cache-Control: no-cache` (clients revalidate each
 * time); 304 without a body when the client's If-None-Match matches.
 */
async function withEtag(
  request: Request,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string>,
  status = 200,
  knownEtag?: string,
): Promise<Response> {
  const etag = knownEtag ?? await etagOf(body);
  const all = { etag, "cache-control": "no-cache", ...SECURITY_HEADERS, ...headers };
  if (status === 200 && request.headers.get("if-none-match") === etag) {
    return new Response(null, { status: 304, headers: all });
  }
  return new Response(body, { status, headers: all });
}

/** A strong ETag: the first 96 bits of the body's SHA-256. */
async function etagOf(body: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return `"${
    [...new Uint8Array(digest).slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")
  }"`;
}

/** `limit` from the query: 1 to MAX_LIMIT, `fallback` when absent; null when invalid. */
function limitOf(url: URL, fallback: number): number | null {
  const text = url.searchParams.get("limit");
  if (text === null) return fallback;
  if (!/^\d{1,7}$/.test(text)) return null;
  const value = Number(text);
  return value >= 1 && value <= MAX_LIMIT ? value : null;
}

/** The slug in a path or query, or null when no Kick slug can be it. */
function slugOf(text: string): string | null {
  try {
    return normaliseSlug(decodeURIComponent(text));
  } catch {
    return null;
  }
}

async function events(request: Request, store: Store): Promise<Response> {
  const url = new URL(request.url);
  const limit = limitOf(url, 50);
  if (limit === null) return problem(400, `limit must be a whole number from 1 to ${MAX_LIMIT}`);
  const streamerText = url.searchParams.get("streamer");
  const slug = streamerText === null ? undefined : slugOf(streamerText);
  if (slug === null) return problem(400, "streamer is not a Kick slug");
  if (slug !== undefined && (await store.getStreamer(slug)) === null) {
    return problem(404, `No streamer named "${slug}" is monitored`);
  }
  const sinceText = url.searchParams.get("since");
  const since = sinceText === null ? undefined : new Date(sinceText);
  if (since !== undefined && Number.isNaN(since.getTime())) {
    return problem(400, "since must be an ISO 8601 time");
  }
  const cursorText = url.searchParams.get("cursor");
  const before = cursorText === null ? undefined : parseCursor(cursorText);
  if (before === null) return problem(400, "cursor is not one this API gave out");
  const types = typesOf(url);
  if ("problem" in types) return problem(400, `types: ${types.problem}`);
  const rows = await store.listEvents({ slug, since, before, limit, types: types.types });
  const extra: Record<string, string> = {};
  const last = rows.at(-1);
  if (rows.length === limit && last !== undefined) {
    const next = new URL(url);
    next.searchParams.set("cursor", `${last.occurredAt.getTime()}_${last.id}`);
    extra.link = `<${next.pathname}${next.search}>; rel="next"`;
  }
  return await json(request, rows.map(eventDocument), extra);
}

/** `?types=`: which event types to show; online and offline when absent. */
function typesOf(url: URL): { types: readonly TransitionType[] } | { problem: string } {
  const text = url.searchParams.get("types");
  return text === null ? { types: DEFAULT_EVENT_TYPES } : parseEventTypes(text);
}

function parseCursor(text: string): { occurredAt: Date; id: number } | null {
  const match = /^(\d{1,15})_(\d{1,15})$/.exec(text);
  if (match === null) return null;
  return { occurredAt: new Date(Number(match[1])), id: Number(match[2]) };
}

async function sessions(request: Request, store: Store, rawSlug: string): Promise<Response> {
  const url = new URL(request.url);
  const limit = limitOf(url, 20);
  if (limit === null) return problem(400, `limit must be a whole number from 1 to ${MAX_LIMIT}`);
  const slug = slugOf(rawSlug);
  if (slug === null || (await store.getStreamer(slug)) === null) {
    return problem(404, "No such streamer is monitored");
  }
  return await json(request, (await store.listSessions(slug, limit)).map(sessionDocument));
}

/** Server-Sent Events: one `transition` per committed transition, and a comment now and then. */
function stream(options: ReadApiOptions, types: readonly TransitionType[]): Response {
  let stop = (): void => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const encoder = new TextEncoder();
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          stop();
        }
      };
      send(": kick-monitor transitions\n\n");
      const unsubscribe = options.subscribe((transitions) => {
        for (const t of transitions) {
          if (!types.includes(t.type)) continue;
          // What the daemon knows of the viewers (a poll's count; Pusher's go-live has none), so the page
          // can show it without a reload.
          const count = t.type === "online" ? options.viewers?.(t.slug) ?? null : null;
          const data = {
            slug: t.slug,
            type: t.type,
            occurred_at: t.occurredAt.toISOString(),
            source: t.source,
            baseline: t.baseline,
            title: t.title,
            category: t.category ?? count?.category ?? null,
            viewers: count?.viewers ?? null,
            viewers_seen_at: count?.seenAt.toISOString() ?? null,
          };
          send(`event: transition\ndata: ${JSON.stringify(data)}\n\n`);
        }
      });
      // The first count of a streamer already live (a Pusher go-live has none; the poll after it does), with
      // the category that came with it: the page completes the row it added. Clients listening for
      // `transition` only never see it (SSE delivers a named event to its own listeners).
      const unsubscribeCounts = options.subscribeFirstCounts?.((slug, count) => {
        const data = {
          slug,
          viewers: count.viewers,
          viewers_seen_at: count.seenAt.toISOString(),
          category: count.category,
        };
        send(`event: viewers\ndata: ${JSON.stringify(data)}\n\n`);
      });
      const heartbeat = setInterval(() => send(": keep-alive\n\n"), options.heartbeatMs ?? 15_000);
      stop = () => {
        clearInterval(heartbeat);
        unsubscribe?.();
        unsubscribeCounts?.();
      };
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      ...SECURITY_HEADERS,
    },
  });
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function badge(request: Request, store: Store, rawSlug: string): Promise<Response> {
  const slug = slugOf(rawSlug);
  const record = slug === null ? null : await store.getStreamer(slug);
  const status = record === null
    ? "unknown"
    : record.unavailableReason !== null
    ? "unknown"
    : record.status;
  const [message, color] = status === "online"
    ? ["live", "#53fc18"]
    : status === "offline"
    ? ["offline", "#9f9f9f"]
    : ["unknown", "#e05d44"];
  const label = "kick";
  // Widths from a fixed per-character estimate: shields.io's layout, without a font.
  const labelWidth = 10 + label.length * 7;
  const messageWidth = 10 + message.length * 7;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + messageWidth}" height="20" ` +
    `role="img" aria-label="${escapeXml(`${label}: ${message}`)}">` +
    `<title>${escapeXml(`${slug ?? "?"}: ${message}`)}</title>` +
    `<rect width="${labelWidth}" height="20" fill="#555"/>` +
    `<rect x="${labelWidth}" width="${messageWidth}" height="20" fill="${color}"/>` +
    `<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">` +
    `<text x="${labelWidth / 2}" y="14">${label}</text>` +
    `<text x="${labelWidth + messageWidth / 2}" y="14" fill="${
      status === "online" ? "#000" : "#fff"
    }">` +
    `${message}</text></g></svg>`;
  return await withEtag(
    request,
    svg,
    { "content-type": "image/svg+xml" },
    record === null ? 404 : 200,
  );
}

/** A CSV field: quoted, and a leading = + - @ neutralised so a spreadsheet never runs a title as a formula. */
function csvField(value: string | number | null): string {
  if (value === null) return "";
  let text = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== String(value) ? `"${text.replaceAll('"', '""')}"` : text;
}

async function sessionsCsv(request: Request, store: Store): Promise<Response> {
  const url = new URL(request.url);
  const streamerText = url.searchParams.get("streamer");
  const slugs = streamerText === null
    ? (await store.listStreamers()).map((s) => s.slug)
    : [slugOf(streamerText)];
  if (slugs.some((s) => s === null)) return problem(400, "streamer is not a Kick slug");
  const lines = ["slug,livestream_id,started_at,ended_at,duration_seconds,title,category"];
  for (const slug of slugs as string[]) {
    for (const session of (await store.listSessions(slug, 100_000)).map(sessionDocument)) {
      lines.push(
        [
          slug,
          session.livestream_id,
          session.started_at,
          session.ended_at,
          session.duration_seconds,
          session.title,
          session.category,
        ].map(csvField).join(","),
      );
    }
  }
  return await withEtag(request, lines.join("\r\n") + "\r\n", {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": 'attachment; filename="sessions.csv"',
  });
}
