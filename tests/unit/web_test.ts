/**
 * The status page's pure parts (src/web/): escaping of everything streamers write, the 90-day strip and the
 * weekly hours, and the lists of the status page with their paging.
 */
import assert from "node:assert/strict";
import type { SessionDocument, StreamerDocument } from "../../src/domain/documents.ts";
import type { Transition } from "../../src/domain/types.ts";
import type { ViewerCount } from "../../src/monitor/viewer_counts.ts";
import { AccessGuard, TOKEN_COOKIE } from "../../src/http/access.ts";
import {
  applyTransition,
  documentJson,
  keepUnchanged,
  sameDocument,
  StreamerSnapshot,
} from "../../src/http/streamer_snapshot.ts";
import { gzipInSlices, streamersBody } from "../../src/http/streamers_body.ts";
import type { Store } from "../../src/store/store.ts";
import { STRIP_DAYS, stripPieces, weeklyHours } from "../../src/web/charts.ts";
import { escapeHtml, formatDuration, html } from "../../src/web/html.ts";
import {
  formatCount,
  groupStreamers,
  PAGE_SIZE,
  renderStatusPage,
  renderStreamerPage,
} from "../../src/web/pages.ts";

const EVIL = `<script>alert(1)</script>"'&`;
const NOW = Date.parse("2026-12-03T12:00:00Z");

function streamer(slug: string, status: StreamerDocument["status"], changed: string | null) {
  const doc: StreamerDocument = {
    slug,
    broadcaster_user_id: 1,
    channel_id: 2,
    status,
    status_reason: null,
    coverage: "pusher",
    status_changed_at: changed,
    last_checked_at: null,
    session: status === "online"
      ? { started_at: changed, title: EVIL, category: `<img src=x onerror=alert(2)>` }
      : null,
  };
  return doc;
}

function session(start: string, end: string | null, title: string | null = null): SessionDocument {
  return {
    livestream_id: null,
    started_at: start,
    ended_at: end,
    duration_seconds: end === null ? null : (Date.parse(end) - Date.parse(start)) / 1000,
    title,
    category: null,
    peak_viewers: null,
  };
}

Deno.test("html escapes every interpolation, and only SafeHtml passes unescaped", () => {
  assert.equal(escapeHtml(EVIL), "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;");
  assert.equal(
    html`<p title="${EVIL}">${[EVIL, 3, null]}</p>`.text,
    `<p title="${escapeHtml(EVIL)}">${escapeHtml(EVIL)}3</p>`,
  );
  assert.equal(html`<div>${html`<b>${"<i>"}</b>`}</div>`.text, "<div><b>&lt;i&gt;</b></div>");
});

Deno.test("a title of <script>alert(1)</script> renders as text on both pages", () => {
  const page = renderStatusPage({
    groups: groupStreamers([streamer("alpha", "online", "2026-12-03T11:00:00Z")]),
    status: null,
    viewers: () => null,
    pages: { live: 1, offline: 1, unknown: 1 },
  });
  assert.ok(!page.includes("<script>alert"), "the title became markup");
  assert.ok(!page.includes("<img src=x"), "the category became markup");
  assert.ok(page.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  // No inline script or style anywhere: the CSP would block it, and it would be a hole.
  assert.doesNotMatch(page, /<script>|<style|style=/);
  assert.match(page, /<script src="\/static\/app\.js" defer><\/script>/);
  const own = renderStreamerPage({
    streamer: streamer("alpha", "online", "2026-12-03T11:00:00Z"),
    viewers: null,
    sessions: [session("2026-12-03T11:00:00Z", null, EVIL)],
    events: [{
      id: 1,
      slug: "alpha",
      type: "online",
      occurred_at: "2026-12-03T11:00:00Z",
      received_at: null,
      source: "pusher",
      livestream_id: null,
      title: EVIL,
    }],
    nowMs: NOW,
  });
  assert.ok(!own.includes("<script>alert"));
  assert.doesNotMatch(own, /<script>|<style|style=/);
  assert.ok(own.includes("<title>2026-12-03 11:00 – still live UTC (1 h 0 min): &lt;script&gt;"));
});

Deno.test("the status page lists live first, newest change first, in pages", () => {
  const many = Array.from(
    { length: PAGE_SIZE.offline * 2 + 1 },
    (_, i) => streamer(`off${i}`, "offline", new Date(NOW - i * 60_000).toISOString()),
  );
  const groups = groupStreamers([
    ...many,
    streamer("live1", "online", null),
    streamer("u", "unknown", null),
  ]);
  assert.deepEqual(groups.live.map((s) => s.slug), ["live1"]);
  assert.equal(groups.offline[0].slug, "off0");
  assert.deepEqual(groups.unknown.map((s) => s.slug), ["u"]);
  const second = renderStatusPage({
    groups: groupStreamers(many),
    status: null,
    viewers: () => null,
    pages: { live: 1, offline: 2, unknown: 1 },
  });
  assert.ok(second.includes(`data-slug="off${PAGE_SIZE.offline}"`));
  assert.ok(!second.includes('data-slug="off0"'));
  assert.match(second, /page 2 of 3/);
  assert.match(second, /href="\/\?offline=3#offline-heading"/);
  assert.match(second, /href="\/\?#offline-heading"|href="\/\?offline=1/);
  assert.match(second, /<span data-count="offline">101<\/span>/);
});

Deno.test("the strip splits sessions at UTC midnight and keeps to the last 90 days", () => {
  const pieces = stripPieces([
    session("2026-12-02T22:00:00Z", "2026-12-03T02:00:00Z"),
    session("2026-12-03T10:00:00Z", null),
    session("2020-01-01T00:00:00Z", "2020-01-01T01:00:00Z"),
  ], NOW);
  assert.deepEqual(
    pieces.map((p) => [p.day, p.fromHour, p.toHour]),
    [[STRIP_DAYS - 2, 22, 24], [STRIP_DAYS - 1, 0, 2], [STRIP_DAYS - 1, 10, 12]],
  );
});

Deno.test("weekly hours count each week's share of sessions, the open one until now", () => {
  // 2026-12-03 is a Thursday: this week began on Monday 2026-11-30.
  const weeks = weeklyHours([
    session("2026-11-29T22:00:00Z", "2026-11-30T03:00:00Z"),
    session("2026-12-03T09:00:00Z", null),
  ], NOW);
  assert.equal(weeks.length, 13);
  assert.deepEqual(weeks.at(-1), { weekStart: "2026-11-30", hours: 6 });
  assert.deepEqual(weeks.at(-2), { weekStart: "2026-11-23", hours: 2 });
});

Deno.test("durations read naturally", () => {
  assert.equal(formatDuration(45), "45 s");
  assert.equal(formatDuration(12 * 60), "12 min");
  assert.equal(formatDuration(3 * 3600 + 12 * 60), "3 h 12 min");
  assert.equal(formatDuration(50 * 3600), "2 d 2 h");
});

Deno.test("a transition applies to a document as the store applies it; an older one changes nothing", () => {
  const at = (minutes: number) => new Date(NOW + minutes * 60_000);
  const base = streamer("alpha", "offline", at(0).toISOString());
  const t = (
    type: "online" | "offline",
    minutes: number,
    title: string | null = null,
  ): Transition => ({
    dedupeKey: `${type}${minutes}`,
    slug: "alpha",
    type,
    occurredAt: at(minutes),
    receivedAt: at(minutes),
    source: "pusher" as const,
    livestreamId: null,
    title,
    category: null,
    baseline: false,
    raw: null,
  });
  const live = applyTransition(base, t("online", 5, "hello"));
  assert.equal(live.status, "online");
  assert.deepEqual(live.session, {
    started_at: at(5).toISOString(),
    title: "hello",
    category: null,
  });
  assert.equal(
    applyTransition(live, t("offline", -1)),
    live,
    "a late offline moved the status back",
  );
  const again = applyTransition(live, t("online", 6, "other"));
  assert.equal(again.session?.started_at, at(5).toISOString(), "an open session was replaced");
  const off = applyTransition(live, t("offline", 9));
  assert.equal(off.status, "offline");
  assert.equal(off.session, null);
  assert.equal(off.status_changed_at, at(9).toISOString());
});

Deno.test("the snapshot reads once, applies transitions, and re-applies those that arrive during a read", async () => {
  let reads = 0;
  let release: () => void = () => {};
  let listener: (transitions: Transition[]) => void = () => {};
  const rows = [{ slug: "alpha" }];
  const store = {
    listStreamers: async () => {
      reads++;
      if (reads === 2) await new Promise<void>((resolve) => release = resolve);
      return rows.map((r) => ({
        id: 1,
        slug: r.slug,
        broadcasterUserId: 1,
        channelId: 2,
        chatroomId: null,
        status: "offline" as const,
        statusChangedAt: new Date(NOW - 3_600_000),
        lastCheckedAt: null,
        addedAt: new Date(NOW - 7_200_000),
        session: null,
        unavailableReason: null,
      }));
    },
  } as unknown as Store;
  let clock = NOW;
  const snapshot = new StreamerSnapshot({
    store: () => store,
    subscribe: (l) => {
      listener = l;
      return () => {};
    },
    refreshMs: 1_000,
    now: () => clock,
  });
  const first = await snapshot.documents();
  assert.equal(first?.[0].status, "offline");
  const goLive: Transition = {
    dedupeKey: "k",
    slug: "alpha",
    type: "online",
    occurredAt: new Date(NOW),
    receivedAt: new Date(NOW),
    source: "pusher",
    livestreamId: null,
    title: "t",
    category: null,
    baseline: false,
    raw: null,
  };
  clock += 2_000; // the next call starts a background re-read (which waits), and answers from memory
  assert.equal((await snapshot.documents())?.[0].status, "offline");
  listener([goLive]); // committed while the re-read is under way: the read's rows predate it
  assert.equal((await snapshot.documents())?.[0].status, "online");
  release();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(reads, 2);
  assert.equal(
    (await snapshot.documents())?.[0].status,
    "online",
    "the re-read lost the transition",
  );
  const docs = (await snapshot.documents())!;
  let builds = 0;
  snapshot.derived("x", docs, () => builds++);
  snapshot.derived("x", docs, () => builds++);
  assert.equal(builds, 1);
});

Deno.test("the access guard: header, query, or the cookie among others; nothing else", () => {
  const token = "unit-test-token-0123456789";
  const guard = new AccessGuard(token);
  const request = (path: string, headers: Record<string, string> = {}) =>
    new Request(`http://127.0.0.1${path}`, { headers });
  assert.equal(guard.decide(request("/"), true).kind, "deny");
  assert.equal(
    guard.decide(request("/", { authorization: `Bearer ${token}` }), true).kind,
    "allow",
  );
  assert.equal(guard.decide(request("/", { authorization: `Basic ${token}` }), true).kind, "deny");
  assert.equal(guard.decide(request(`/api/v1/streamers?token=${token}`), false).kind, "allow");
  const traded = guard.decide(request(`/streamers/a?x=1&token=${token}`), true);
  assert.equal(traded.kind, "redirect");
  if (traded.kind !== "redirect") return;
  assert.equal(traded.location, "/streamers/a?x=1");
  const cookie = traded.setCookie.split(";")[0];
  assert.equal(guard.decide(request("/", { cookie: `a=b; ${cookie}; c=d` }), true).kind, "allow");
  assert.equal(guard.decide(request("/", { cookie: `${cookie}0` }), true).kind, "deny");
  assert.equal(
    guard.decide(request("/", { cookie: `${TOKEN_COOKIE}=${token}` }), true).kind,
    "deny",
  );
  // Another token's cookie does not open this daemon.
  const other = new AccessGuard(`${token}-other`).decide(request(`/?token=${token}-other`), true);
  assert.equal(other.kind, "redirect");
  if (other.kind !== "redirect") return;
  assert.equal(
    guard.decide(request("/", { cookie: other.setCookie.split(";")[0] }), true).kind,
    "deny",
  );
});

Deno.test("the sources' health on the page is redacted like /healthz, and escaped", () => {
  const page = renderStatusPage({
    groups: groupStreamers([]),
    status: {
      pid: 1,
      started_at: "2026-12-03T11:00:00Z",
      updated_at: "2026-12-03T12:00:00Z",
      streamers: 0,
      sockets_connected: 1,
      sockets_total: 2,
      subscribed_channels: 4,
      last_event_at: null,
      last_poll_at: "2026-12-03T11:59:00Z",
      last_poll_error: "connect postgres://kick:hunter2secret@db:5432/x failed",
      journal_backlog: 0,
      database_error: null,
      coverage: { pusher: 0, poll_only: 0 },
      sources: { pusher: { ok: false, working: false, detail: `1 of 2 sockets down ${EVIL}` } },
      instance: "test-1",
      leader: true,
      instances: [],
    },
    viewers: () => null,
    pages: { live: 1, offline: 1, unknown: 1 },
  });
  assert.ok(!page.includes("hunter2secret"), "a password reached the page");
  assert.match(page, /1 of 2/);
  assert.ok(!page.includes(EVIL));
  assert.match(page, /class="bad">failing/);
});

Deno.test("viewers: the live table and the streamer page show the latest count and when it was seen", () => {
  const seenAt = new Date("2026-12-03T11:58:00Z");
  const live = streamer("alpha", "online", "2026-12-03T11:00:00Z");
  const quiet = streamer("beta", "online", "2026-12-03T10:00:00Z");
  // Opened by Pusher: no category in the session; the poll's, kept with the count, stands in (escaped).
  const pushed = streamer("gamma", "online", "2026-12-03T09:00:00Z");
  pushed.session = { ...pushed.session!, category: null };
  const asked: string[] = [];
  const page = renderStatusPage({
    groups: groupStreamers([live, quiet, pushed]),
    status: null,
    viewers: (s) => {
      asked.push(s.slug);
      if (s.slug === "gamma") return { viewers: 3, seenAt, category: `<b>Chess</b>` };
      return s.slug === "alpha" ? { viewers: 12345, seenAt, category: "Poker" } : null;
    },
    pages: { live: 1, offline: 1, unknown: 1 },
  });
  assert.deepEqual(asked.sort(), ["alpha", "beta", "gamma"]);
  const gamma = page.slice(page.indexOf('data-slug="gamma"'));
  assert.match(gamma.slice(0, gamma.indexOf("</tr>")), /<td>&lt;b&gt;Chess&lt;\/b&gt;<\/td>/);
  // The session's own category wins over the poll's.
  assert.ok(!page.includes("Poker"));
  assert.match(page, /<th scope="col">Viewers<\/th>/);
  assert.match(page, /<td class="num" title="seen 2026-12-03T11:58:00.000Z">12,345<\/td>/);
  // beta's row has an empty viewers cell, so its columns still line up with the header.
  const beta = page.slice(page.indexOf('data-slug="beta"'));
  assert.match(beta.slice(0, beta.indexOf("</tr>")), /<td class="num"><\/td>/);

  const own = (viewers: ViewerCount | null) =>
    renderStreamerPage({
      streamer: live,
      viewers,
      sessions: [
        { ...session("2026-12-03T11:00:00Z", null), peak_viewers: 20000 },
        { ...session("2026-12-02T11:00:00Z", "2026-12-02T12:00:00Z"), peak_viewers: null },
      ],
      events: [],
      nowMs: NOW,
    });
  const known = own({ viewers: 12345, seenAt, category: null });
  assert.match(
    known,
    /id="state-viewers">12,345 <span class="muted">\(seen <time datetime="2026-12-03T11:58:00.000Z">/,
  );
  assert.match(known, /<th scope="col">Peak viewers<\/th>/);
  assert.match(known, /<td class="num">20,000<\/td>/);
  assert.match(own(null), /id="state-viewers">—<\/dd>/);
});

Deno.test("the snapshot gives viewers of live streamers only", () => {
  const snapshot = new StreamerSnapshot({
    store: () => null,
    subscribe: () => null,
    viewers: (slug) => ({ viewers: slug.length, seenAt: new Date(NOW), category: null }),
  });
  assert.equal(snapshot.viewersOf(streamer("abc", "online", null))?.viewers, 3);
  assert.equal(snapshot.viewersOf(streamer("abc", "offline", null)), null);
  assert.equal(snapshot.viewersOf(streamer("abc", "unknown", null)), null);
  const without = new StreamerSnapshot({ store: () => null, subscribe: () => null });
  assert.equal(without.viewersOf(streamer("abc", "online", null)), null);
});

Deno.test("the API body: exactly JSON.stringify of the documents, and its gzip the same bytes", async () => {
  const documents = [
    streamer("alpha", "online", "2026-12-03T11:00:00Z"),
    streamer("beta", "offline", "2026-12-03T10:00:00Z"),
  ];
  const body = streamersBody(documents);
  assert.equal(new TextDecoder().decode(body.identity), JSON.stringify(documents));
  assert.equal(new TextDecoder().decode(streamersBody([]).identity), "[]");
  assert.match(body.etag, /^"[0-9a-f]{24}"$/);
  await body.gzipped;
  const unzipped = await new Response(
    new Blob([body.gzip!]).stream().pipeThrough(new DecompressionStream("gzip")),
  ).arrayBuffer();
  assert.deepEqual(new Uint8Array(unzipped), body.identity);
  // Larger than one slice: still one gzip stream of the same bytes.
  const big = new Uint8Array(200 * 1024).map((_, i) => i % 251);
  const back = await new Response(
    new Blob([await gzipInSlices(big)]).stream().pipeThrough(new DecompressionStream("gzip")),
  ).arrayBuffer();
  assert.deepEqual(new Uint8Array(back), big);
});

Deno.test("a re-read keeps the objects of unchanged documents, and the array when nothing changed", () => {
  const previous = [
    streamer("alpha", "online", "2026-12-03T11:00:00Z"),
    streamer("beta", "offline", "2026-12-03T10:00:00Z"),
  ];
  const copies = () => previous.map((d) => structuredClone(d));
  assert.equal(keepUnchanged(previous, copies()), previous, "nothing changed, yet a new array");
  assert.equal(keepUnchanged(null, previous), previous);
  const changed = copies();
  changed[1] = { ...changed[1], last_checked_at: "2026-12-03T12:00:00.000Z" };
  const kept = keepUnchanged(previous, changed);
  assert.notEqual(kept, previous);
  assert.equal(kept[0], previous[0], "an unchanged document was replaced");
  assert.equal(kept[1], changed[1]);
  // A streamer added, removed or moved is a change too.
  assert.notEqual(keepUnchanged(previous, copies().slice(0, 1)), previous);
  assert.notEqual(keepUnchanged(previous, copies().reverse()), previous);
  assert.equal(documentJson(previous[0]), JSON.stringify(previous[0]));
  // sameDocument compares field by field: a field added to the document must be compared too.
  assert.deepEqual(Object.keys(previous[0]).sort(), [
    "broadcaster_user_id",
    "channel_id",
    "coverage",
    "last_checked_at",
    "session",
    "slug",
    "status",
    "status_changed_at",
    "status_reason",
  ], "StreamerDocument changed: compare the new field in sameDocument (streamer_snapshot.ts)");
  assert.deepEqual(Object.keys(previous[0].session!).sort(), ["category", "started_at", "title"]);
  for (const [field, value] of Object.entries({ status_reason: "banned", channel_id: 9 })) {
    assert.ok(!sameDocument(previous[1], { ...previous[1], [field]: value }), field);
  }
  assert.ok(
    !sameDocument(previous[0], {
      ...previous[0],
      session: { ...previous[0].session!, category: "Chess" },
    }),
  );
  assert.ok(sameDocument(previous[0], structuredClone(previous[0])));
});

Deno.test("counts read with thousands separators", () => {
  assert.deepEqual(
    [0, 7, 999, 1000, 12345, 1234567, -1500].map(formatCount),
    ["0", "7", "999", "1,000", "12,345", "1,234,567", "-1,500"],
  );
});
