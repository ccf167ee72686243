/**
 * The status page (`GET /`) and a streamer's page (`GET /streamers/{slug}`) as pure functions from documents
 * to HTML: the same documents as the CLI's --json and the read API (src/domain/documents.ts), so the three
 * never disagree. No I/O here; routes.ts gathers the data.
 */
import type { EventDocument, SessionDocument, StreamerDocument } from "../domain/documents.ts";
import { redact } from "../lib/redact.ts";
import type { MonitorStatus } from "../monitor/monitor_status.ts";
import type { ViewerCount } from "../monitor/viewer_counts.ts";
import { renderStrip, renderWeeklyHours } from "./charts.ts";
import { formatDuration, html, layout, type SafeHtml, streamerPath, timeTag } from "./html.ts";

/** Rows per page of each list on the status page (10,000 streamers must still answer quickly). */
export const PAGE_SIZE = { live: 200, offline: 50, unknown: 50 } as const;

/** Everything the status page shows. */
export interface StatusPageView {
  /** The streamers by list ({@link groupStreamers}). */
  groups: Record<ListName, readonly StreamerDocument[]>;
  /** The running monitor's figures, or null while it starts. */
  status: MonitorStatus | null;
  /** The latest viewer count of a live streamer, from memory (null: none seen since it went live). */
  viewers: (streamer: StreamerDocument) => ViewerCount | null;
  /** 1-based page of each list. */
  pages: { live: number; offline: number; unknown: number };
}

/** Everything a streamer's page shows. */
export interface StreamerPageView {
  streamer: StreamerDocument;
  /** Its latest viewer count while live (null: not live, or no count seen yet). */
  viewers: ViewerCount | null;
  /** Sessions touching the last 90 days, newest first. */
  sessions: readonly SessionDocument[];
  /** The latest events, newest first. */
  events: readonly EventDocument[];
  nowMs: number;
}

type ListName = keyof typeof PAGE_SIZE;

function byChangeNewestFirst(a: StreamerDocument, b: StreamerDocument): number {
  return (b.status_changed_at ?? "").localeCompare(a.status_changed_at ?? "") ||
    a.slug.localeCompare(b.slug);
}

/** Splits streamers into the page's three lists, each newest change first. */
export function groupStreamers(
  streamers: readonly StreamerDocument[],
): Record<ListName, StreamerDocument[]> {
  const groups: Record<ListName, StreamerDocument[]> = { live: [], offline: [], unknown: [] };
  for (const s of streamers) {
    groups[s.status === "online" ? "live" : s.status === "offline" ? "offline" : "unknown"].push(s);
  }
  for (const list of Object.values(groups)) list.sort(byChangeNewestFirst);
  return groups;
}

function streamerLink(slug: string): SafeHtml {
  return html`<a href="${streamerPath(slug)}">${slug}</a>`;
}

function pager(list: ListName, page: number, total: number, pages: StatusPageView["pages"]) {
  const last = Math.max(1, Math.ceil(total / PAGE_SIZE[list]));
  if (last === 1) return html``;
  const link = (to: number, text: string) => {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...pages, [list]: to })) {
      if (value !== 1) query.set(name, String(value));
    }
    return html`<a href="/?${query.toString()}#${list}-heading">${text}</a>`;
  };
  return html`
    <nav class="pager"
      aria-label="${list} pages">${page > 1
        ? link(page - 1, "← newer")
        : ""} <span>page ${page} of ${last}</span> ${page < last
        ? link(page + 1, "older →")
        : ""}</nav>
  `;
}

function slice<T>(items: readonly T[], list: ListName, page: number): readonly T[] {
  return items.slice((page - 1) * PAGE_SIZE[list], page * PAGE_SIZE[list]);
}

/**
 * A count as people read it ("12,345"), the same in every locale so pages compare. Not toLocaleString: it
 * builds a formatter per call, and 200 live rows made `GET /` 3× slower (bench 8, p50 2.5 → 7.5 ms).
 */
export function formatCount(count: number): string {
  return String(Math.trunc(count)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * The viewers cell: the count, and when it was seen as its tooltip (a count is as old as the last poll
 * pass); empty when none is known. The page's script builds the same cell.
 */
function viewersCell(count: ViewerCount | null): SafeHtml {
  if (count === null) return html`<td class="num"></td>`;
  return html`<td class="num" title="seen ${count.seenAt.toISOString()}">${
    formatCount(
      count.viewers,
    )
  }</td>`;
}

/** One row of the live table (the page's script builds the same row for a streamer going live). */
function liveRow(s: StreamerDocument, view: StatusPageView): SafeHtml {
  // A session Pusher opened has no category; the poll's, kept with the count, stands in until it has.
  const count = view.viewers(s);
  return html`
    <tr data-slug="${s.slug}">
      <th scope="row">${streamerLink(s.slug)}</th>
      <td>${s.session?.title ?? ""}</td>
      <td>${s.session?.category ?? count?.category ?? ""}</td>
      ${viewersCell(count)}
      <td>${timeTag(s.session?.started_at ?? s.status_changed_at)}</td>
    </tr>
  `;
}

function offlineRow(s: StreamerDocument): SafeHtml {
  return html`
    <tr data-slug="${s.slug}">
      <th scope="row">${streamerLink(s.slug)}</th>
      <td>${timeTag(s.status_changed_at)}</td>
    </tr>
  `;
}

function unknownRow(s: StreamerDocument): SafeHtml {
  return html`
    <tr data-slug="${s.slug}">
      <th scope="row">${streamerLink(s.slug)}</th>
      <td>${s.status_reason ?? "not checked yet"}</td>
    </tr>
  `;
}

/** The sources' health; their details carry drivers' and servers' messages, so they pass the one redaction. */
function healthSection(status: MonitorStatus | null): SafeHtml {
  if (status === null) {
    return html`
      <section aria-labelledby="health-heading">
        <h2 id="health-heading">Sources</h2>
        <p>The monitor is starting.</p>
      </section>
    `;
  }
  const sources = Object.entries(status.sources).map(([name, source]) =>
    html`
      <tr>
        <th scope="row">${name}</th>
        <td class="${source.ok ? "ok" : "bad"}">${source.ok ? "ok" : "failing"}</td>
        <td>${redact(source.detail)}</td>
      </tr>
    `
  );
  return html`
    <section aria-labelledby="health-heading">
      <h2 id="health-heading">Sources</h2>
      <dl class="figures">
    <div><dt>Streamers</dt><dd>${status.streamers} (${status.coverage.pusher} on Pusher, ${status
      .coverage.poll_only} poll only)</dd></div>
    <div><dt>Pusher sockets connected</dt><dd>${status.sockets_connected} of ${status
      .sockets_total} (${status.subscribed_channels} channels)</dd></div>
    <div><dt>Last successful poll</dt><dd>${timeTag(status.last_poll_at)}</dd></div>
    <div><dt>Last event</dt><dd>${timeTag(status.last_event_at)}</dd></div>
    ${status.last_poll_error
      ? html`
        <div>
          <dt>Last poll error</dt>
          <dd class="bad">${redact(status.last_poll_error)}</dd>
        </div>
      `
      : ""}
      </dl>
      <div class="scroll">
        <table>
          <caption>Each source</caption>
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">State</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>${sources}</tbody>
        </table>
      </div>
    </section>
  `;
}

function listSection(
  list: ListName,
  title: string,
  items: readonly StreamerDocument[],
  columns: readonly string[],
  row: (s: StreamerDocument, view: StatusPageView) => SafeHtml,
  view: StatusPageView,
): SafeHtml {
  const page = view.pages[list];
  const shown = slice(items, list, page);
  const empty = html`
    <tr class="empty">
      <td colspan="${columns.length}">Nobody.</td>
    </tr>
  `;
  return html`<section aria-labelledby="${list}-heading">
<h2 id="${list}-heading">${title} (<span data-count="${list}">${items.length}</span>)</h2>
<div class="scroll"><table id="${list}">
<thead><tr>${columns.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
<tbody>${shown.length === 0 ? empty : shown.map((s) => row(s, view))}</tbody>
</table></div>
${pager(list, page, items.length, view.pages)}
</section>`;
}

/** The status page: live now, recently offline, unknown, and the sources' health. */
export function renderStatusPage(view: StatusPageView): string {
  const groups = view.groups;
  const body = html`<h1>Kick streamers</h1>
${
    listSection(
      "live",
      "Live now",
      groups.live,
      ["Streamer", "Title", "Category", "Viewers", "Since"],
      liveRow,
      view,
    )
  }
${
    listSection(
      "offline",
      "Recently offline",
      groups.offline,
      ["Streamer", "Offline since"],
      offlineRow,
      view,
    )
  }
${listSection("unknown", "Unknown", groups.unknown, ["Streamer", "Why"], unknownRow, view)}
${healthSection(view.status)}`;
  return layout("kick-monitor", body, html`data-page="status"`);
}

function stateText(s: StreamerDocument): string {
  return s.status === "online" ? "live" : s.status;
}

/** A streamer's page: the current state, 90 days of sessions, hours per week and the latest events. */
export function renderStreamerPage(view: StreamerPageView): string {
  const s = view.streamer;
  const events = view.events.map((e) =>
    html`
      <tr>
        <td>${timeTag(e.occurred_at)}</td>
        <td>${e.type}</td>
        <td>${e.source}</td>
        <td>${e.title ?? ""}</td>
      </tr>
    `
  );
  const sessions = view.sessions.slice(0, 50).map((session) =>
    html`
      <tr>
        <td>${timeTag(session.started_at)}</td>
        <td>${session.ended_at === null ? "still live" : timeTag(session.ended_at)}</td>
        <td>${session.duration_seconds === null
          ? ""
          : formatDuration(session.duration_seconds)}</td>
        <td>${session.title ?? ""}</td>
        <td>${session.category ?? ""}</td>
        <td class="num">${session.peak_viewers === null
          ? ""
          : formatCount(session.peak_viewers)}</td>
      </tr>
    `
  );
  const body = html`
    <h1>${s.slug}</h1>
    <section aria-labelledby="state-heading">
      <h2 id="state-heading">Now</h2>
      <dl class="figures">
        <div>
          <dt>State</dt>
          <dd><span id="state" class="state ${s.status}">${stateText(s)}</span>${s.status_reason
            ? html`
              (${s.status_reason})
            `
            : ""}</dd>
        </div>
        <div>
          <dt>Since</dt>
          <dd id="state-since">${timeTag(s.status_changed_at)}</dd>
        </div>
        <div>
          <dt>Title</dt>
          <dd id="state-title">${s.session?.title ?? "—"}</dd>
        </div>
        <div>
          <dt>Category</dt>
          <dd id="state-category">${s.session?.category ?? view.viewers?.category ?? "—"}</dd>
        </div>
        <div>
          <dt>Viewers</dt>
          <dd id="state-viewers">${view.viewers === null
            ? "—"
            : html`${formatCount(view.viewers.viewers)} <span class="muted">(seen ${
              timeTag(
                view.viewers.seenAt.toISOString(),
              )
            })</span>`}</dd>
        </div>
        <div>
          <dt>Watched by</dt>
          <dd>${s.coverage === "pusher" ? "Pusher and the poll" : "the poll only"}</dd>
        </div>
        <div>
          <dt>Last checked</dt>
          <dd>${timeTag(s.last_checked_at)}</dd>
        </div>
      </dl>
      <p><a href="https://kick.com/${encodeURIComponent(
        s.slug,
      )}" rel="noopener noreferrer">kick.com/${s.slug}</a></p>
    </section>
    <section aria-labelledby="strip-heading"><h2 id="strip-heading">Last 90 days</h2>
    ${renderStrip(view.sessions, view.nowMs)}
    ${renderWeeklyHours(view.sessions, view.nowMs)}
    </section>
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Sessions</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Ended</th>
              <th scope="col">Duration</th>
              <th scope="col">Title</th>
              <th scope="col">Category</th>
              <th scope="col">Peak viewers</th>
            </tr>
          </thead>
          <tbody>${sessions.length ? sessions : html`
            <tr class="empty">
              <td colspan="6">None yet.</td>
            </tr>
          `}</tbody>
        </table>
      </div>
    </section>
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Latest events</h2>
      <div class="scroll">
        <table id="events">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Source</th>
              <th scope="col">Title</th>
            </tr>
          </thead>
          <tbody>${events.length ? events : html`
            <tr class="empty">
              <td colspan="4">None yet.</td>
            </tr>
          `}</tbody>
        </table>
      </div>
    </section>
  `;
  return layout(`${s.slug} · kick-monitor`, body, html`data-page="streamer" data-slug="${s.slug}"`);
}

/** The page for a slug nobody monitors (answered with 404). */
export function renderNotFoundPage(slug: string): string {
  return layout(
    "Not monitored · kick-monitor",
    html`
      <h1>Not monitored</h1>
      <p>No streamer named “${slug}” is monitored. <a href="/">All streamers</a></p>
    `,
  );
}
