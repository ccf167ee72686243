/**
 * The status page's routes: `GET /`, `GET /streamers/{slug}`, and its two static files. The data comes from
 * the store, the monitor's status and the in-memory streamer snapshot (http/streamer_snapshot.ts, kept
 * current by each transition), so 10,000 streamers cost no query per request; the rendering is pages.ts.
 */
import { createHash } from "node:crypto";
import { eventDocument, sessionDocument, streamerDocument } from "../domain/documents.ts";
import { normaliseSlug } from "../domain/slug.ts";
import type { Route } from "../http/server.ts";
import type { StreamerSnapshot } from "../http/streamer_snapshot.ts";
import type { MonitorStatus } from "../monitor/monitor_status.ts";
import type { Store } from "../store/store.ts";
import { APP_JS } from "./app_js.ts";
import { STRIP_DAYS } from "./charts.ts";
import {
  groupStreamers,
  renderNotFoundPage,
  renderStatusPage,
  renderStreamerPage,
  type StatusPageView,
} from "./pages.ts";
import { STYLE_CSS } from "./style_css.ts";

/** Where the pages get their data; each may be absent while the daemon starts. */
export interface WebOptions {
  store: () => Store | null;
  status: () => MonitorStatus | null;
  /** Every streamer's document, from memory (shared with the read API). */
  snapshot: StreamerSnapshot;
  /** The clock (tests). */
  now?: () => number;
}

const DAY_MS = 86_400_000;
/** The tab's icon (without one, browsers ask for /favicon.ico and log the 404 as an error). */
const ICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">' +
  '<rect width="16" height="16" rx="3" fill="#53fc18"/><circle cx="8" cy="8" r="3.5" fill="#000"/></svg>';
const EVENTS_SHOWN = 50;
/** More sessions than anyone streams in 90 days (10 a day). */
const SESSIONS_READ = 900;

function asset(body: string, type: string): Route["handle"] {
  const etag = `"${createHash("sha256").update(body).digest("hex").slice(0, 24)}"`;
  return (request) => {
    const headers = { "content-type": type, "cache-control": "no-cache", etag };
    if (request.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(body, { headers });
  };
}

function page(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
  });
}

function starting(): Response {
  return new Response("The monitor is starting; reload in a moment.\n", {
    status: 503,
    headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "2" },
  });
}

function pageNumber(url: URL, name: string): number {
  const text = url.searchParams.get(name);
  const value = text !== null && /^\d{1,6}$/.test(text) ? Number(text) : 1;
  return Math.max(1, value);
}

/** The page routes, for startHttpServer (after the read API's). */
export function webRoutes(options: WebOptions): Route[] {
  const now = options.now ?? Date.now;
  return [
    {
      path: "/",
      page: true,
      handle: async (request) => {
        const streamers = await options.snapshot.documents();
        if (streamers === null) return starting();
        const url = new URL(request.url);
        const view: StatusPageView = {
          groups: options.snapshot.derived(
            "status page",
            streamers,
            () => groupStreamers(streamers),
          ),
          status: options.status(),
          viewers: (s) => options.snapshot.viewersOf(s),
          pages: {
            live: pageNumber(url, "live"),
            offline: pageNumber(url, "offline"),
            unknown: pageNumber(url, "unknown"),
          },
        };
        return page(renderStatusPage(view));
      },
    },
    {
      path: /^\/streamers\/([^/]+)$/,
      page: true,
      handle: async (_request, [raw]) => {
        const store = options.store();
        if (store === null) return starting();
        let slug: string;
        try {
          slug = normaliseSlug(decodeURIComponent(raw));
        } catch {
          return page(renderNotFoundPage(raw), 404);
        }
        const record = await store.getStreamer(slug);
        if (record === null) return page(renderNotFoundPage(slug), 404);
        const nowMs = now();
        const since = nowMs - STRIP_DAYS * DAY_MS;
        const [sessions, events] = await Promise.all([
          store.listSessions(slug, SESSIONS_READ),
          store.listEvents({ slug, limit: EVENTS_SHOWN }),
        ]);
        const streamer = streamerDocument(record);
        return page(renderStreamerPage({
          streamer,
          viewers: options.snapshot.viewersOf(streamer),
          sessions: sessions
            .filter((s) => (s.endedAt?.getTime() ?? nowMs) >= since)
            .map(sessionDocument),
          events: events.map(eventDocument),
          nowMs,
        }));
      },
    },
    { path: "/static/app.js", handle: asset(APP_JS, "text/javascript; charset=utf-8") },
    { path: "/static/style.css", handle: asset(STYLE_CSS, "text/css; charset=utf-8") },
    { path: "/static/icon.svg", handle: asset(ICON_SVG, "image/svg+xml") },
  ];
}
