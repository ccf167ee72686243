/**
 * The status page and the token (src/web/, src/http/access.ts) through a real listener and store: the pages
 * render the store's streamers with their titles escaped; with KICK_MONITOR_HTTP_TOKEN every route but
 * /healthz needs the token (header, query, or the cookie a page trades `?token=` for); every answer carries
 * the strict CSP; static files revalidate with ETags.
 */
import assert from "node:assert/strict";
import type { Transition } from "../../src/domain/types.ts";
import { readApiRoutes } from "../../src/http/read_api.ts";
import { startHttpServer } from "../../src/http/server.ts";
import { dedupeKeyOf } from "../../src/monitor/status_machine.ts";
import { webRoutes } from "../../src/web/routes.ts";
import { StreamerSnapshot } from "../../src/http/streamer_snapshot.ts";
import { streamerDocument } from "../../src/domain/documents.ts";
import { testBackends } from "../helpers/db.ts";

const TOKEN = "page-token-0123456789abcdef";
const EVIL = "<script>alert(1)</script>";

function online(slug: string, at: Date, title: string): Transition {
  return {
    dedupeKey: dedupeKeyOf(slug, "online", at, null),
    slug,
    type: "online",
    occurredAt: at,
    receivedAt: at,
    source: "pusher",
    livestreamId: null,
    title,
    category: "Just Chatting",
    baseline: false,
    raw: null,
  };
}

for (const backend of testBackends()) {
  Deno.test(`status page and token (${backend.name})`, async () => {
    const database = await backend.open();
    const listeners = new Set<(transitions: Transition[]) => void>();
    const subscribe = (listener: (transitions: Transition[]) => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    };
    // Re-read only when the test says so: what the page shows after a commit comes from the transition.
    const snapshot = new StreamerSnapshot({
      store: () => database.store,
      subscribe,
      refreshMs: 3_600_000,
    });
    const server = startHttpServer({ hostname: "127.0.0.1", port: 0 }, {
      health: () => ({ healthy: true }),
      metrics: () => "kick_monitor_up 1\n",
      routes: [
        ...readApiRoutes({ store: () => database.store, subscribe, heartbeatMs: 50, snapshot }),
        ...webRoutes({ store: () => database.store, status: () => null, snapshot }),
      ],
      token: TOKEN,
    });
    const base = `http://127.0.0.1:${server.port}`;
    const bearer = { authorization: `Bearer ${TOKEN}` };
    try {
      const { store } = database;
      await store.migrate();
      await store.addStreamers([{ slug: "alpha", broadcasterUserId: 1 }, {
        slug: "beta",
        broadcasterUserId: 2,
      }]);
      await store.applyTransitions([online("alpha", new Date(Date.now() - 3_600_000), EVIL)]);

      // /healthz stays open; everything else needs the token.
      const healthz = await fetch(`${base}/healthz`);
      assert.equal(healthz.status, 200);
      await healthz.body?.cancel();
      for (
        const path of [
          "/",
          "/streamers/alpha",
          "/metrics",
          "/api/v1/streamers",
          "/api/v1/stream",
          "/badge/alpha.svg",
          "/export/sessions.csv",
          "/static/app.js",
        ]
      ) {
        for (
          const headers of <Record<string, string>[]> [{}, {
            authorization: "Bearer wrong-token-0123456789abcdef",
          }, {
            cookie: "kick_monitor_session=" + TOKEN,
          }]
        ) {
          const denied = await fetch(`${base}${path}`, { headers });
          assert.equal(denied.status, 401, `${path} ${JSON.stringify(headers)}`);
          assert.equal(denied.headers.get("www-authenticate"), 'Bearer realm="kick-monitor"');
          const text = await denied.text();
          assert.ok(!text.includes(TOKEN));
        }
        const wrongQuery = await fetch(`${base}${path}?token=${TOKEN}x`);
        assert.equal(wrongQuery.status, 401);
        await wrongQuery.body?.cancel();
      }
      const metrics = await fetch(`${base}/metrics`, { headers: bearer });
      assert.equal(await metrics.text(), "kick_monitor_up 1\n");

      // A page opened with ?token= trades it for an HttpOnly SameSite=Strict cookie and drops it from the URL.
      const traded = await fetch(`${base}/?offline=2&token=${TOKEN}`, { redirect: "manual" });
      assert.equal(traded.status, 303);
      assert.equal(traded.headers.get("location"), "/?offline=2");
      const setCookie = traded.headers.get("set-cookie") ?? "";
      assert.match(
        setCookie,
        /^kick_monitor_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict$/,
      );
      assert.ok(!setCookie.includes(TOKEN), "the cookie must not be the token itself");
      const cookie = { cookie: setCookie.split(";")[0] };
      // The cookie opens the API and the event stream too (EventSource cannot send a header).
      const api = await fetch(`${base}/api/v1/streamers`, { headers: cookie });
      assert.equal(api.status, 200);
      await api.body?.cancel();
      // An API client may use ?token= directly.
      const apiQuery = await fetch(`${base}/api/v1/streamers?token=${TOKEN}`);
      assert.equal(apiQuery.status, 200);
      await apiQuery.body?.cancel();

      // The status page: the title is text, the CSP is strict on every kind of answer.
      const status = await fetch(`${base}/`, { headers: cookie });
      assert.equal(status.status, 200);
      const csp = status.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(status.headers.get("x-content-type-options"), "nosniff");
      assert.equal(status.headers.get("referrer-policy"), "no-referrer");
      const page = await status.text();
      assert.ok(page.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
      assert.ok(!page.includes(EVIL));
      assert.match(page, /<tr data-slug="alpha">/);
      assert.match(
        page,
        /<span data-count="offline">0<\/span>|<span data-count="unknown">1<\/span>/,
      );
      for (
        const path of ["/healthz", "/metrics", "/static/style.css", "/api/v1/streamers", "/nope"]
      ) {
        const response = await fetch(`${base}${path}`, { headers: bearer });
        assert.match(
          response.headers.get("content-security-policy") ?? "",
          /default-src 'none'/,
          path,
        );
        assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
        await response.body?.cancel();
      }

      // A streamer's page; an unknown slug is a 404 page, a bad one too.
      const own = await fetch(`${base}/streamers/alpha`, { headers: bearer });
      assert.equal(own.status, 200);
      const ownText = await own.text();
      assert.match(ownText, /<h1>alpha<\/h1>/);
      assert.ok(!ownText.includes(EVIL));
      assert.match(ownText, /<svg class="strip"/);
      for (const path of ["/streamers/nobody", "/streamers/%3Cscript%3E"]) {
        const missing = await fetch(`${base}${path}`, { headers: bearer });
        assert.equal(missing.status, 404);
        assert.ok(!(await missing.text()).includes("<script>"));
      }

      // A committed transition reaches the page and the API at once, from memory.
      const beta = online("beta", new Date(), "second <i>");
      await store.applyTransitions([beta]);
      for (const listener of listeners) listener([beta]);
      const again = await (await fetch(`${base}/`, { headers: bearer })).text();
      assert.match(again, /<tr data-slug="beta">[^]*?second &lt;i&gt;/);
      const listed = await (await fetch(`${base}/api/v1/streamers`, { headers: bearer })).json();
      assert.deepEqual(
        listed,
        (await store.listStreamers()).map(streamerDocument),
        "the in-memory documents differ from the store's",
      );
      // Gzipped once per change, in the background, for clients that take it (plain until it is ready);
      // plain for those that do not: the same JSON.
      const plain = await fetch(`${base}/api/v1/streamers`, {
        headers: { ...bearer, "accept-encoding": "identity" },
      });
      assert.equal(plain.headers.get("content-encoding"), null);
      assert.deepEqual(await plain.json(), listed);
      let zipped = await fetch(`${base}/api/v1/streamers`, {
        headers: { ...bearer, "accept-encoding": "gzip" },
      });
      for (let i = 0; i < 50 && zipped.headers.get("content-encoding") !== "gzip"; i++) {
        await zipped.body?.cancel();
        await new Promise((resolve) => setTimeout(resolve, 20));
        zipped = await fetch(`${base}/api/v1/streamers`, {
          headers: { ...bearer, "accept-encoding": "gzip" },
        });
      }
      assert.equal(zipped.headers.get("content-encoding"), "gzip");
      assert.notEqual(zipped.headers.get("etag"), plain.headers.get("etag"));
      assert.deepEqual(await zipped.json(), listed);
      // A client revalidating the plain body it holds is told it is current, even when it takes gzip.
      const revalidated = await fetch(`${base}/api/v1/streamers`, {
        headers: {
          ...bearer,
          "accept-encoding": "gzip",
          "if-none-match": plain.headers.get("etag")!,
        },
      });
      assert.equal(revalidated.status, 304);

      // Every cacheable read route: Cache-Control and an ETag that turns into a 304.
      for (
        const path of [
          "/api/v1/streamers",
          "/api/v1/events?limit=5",
          "/api/v1/streamers/alpha/sessions",
          "/badge/alpha.svg",
          "/export/sessions.csv",
          "/static/style.css",
        ]
      ) {
        const first = await fetch(`${base}${path}`, { headers: bearer });
        assert.equal(first.status, 200, path);
        assert.equal(first.headers.get("cache-control"), "no-cache", path);
        const tag = first.headers.get("etag");
        assert.match(tag ?? "", /^"[0-9a-f]+(-gz)?"$/, path);
        await first.body?.cancel();
        const second = await fetch(`${base}${path}`, {
          headers: { ...bearer, "if-none-match": tag! },
        });
        assert.equal(second.status, 304, path);
        await second.body?.cancel();
      }

      // Static files: served by the daemon, revalidated by ETag.
      const js = await fetch(`${base}/static/app.js`, { headers: bearer });
      assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
      const etag = js.headers.get("etag")!;
      await js.body?.cancel();
      const notModified = await fetch(`${base}/static/app.js`, {
        headers: { ...bearer, "if-none-match": etag },
      });
      assert.equal(notModified.status, 304);
    } finally {
      await server.close();
      await database.cleanup();
    }
  });
}

Deno.test("without a token every route answers as before, with the security headers", async () => {
  const server = startHttpServer({ hostname: "127.0.0.1", port: 0 }, {
    health: () => ({ healthy: true }),
    metrics: () => "",
    routes: webRoutes({
      store: () => null,
      status: () => null,
      snapshot: new StreamerSnapshot({ store: () => null, subscribe: () => null }),
    }),
  });
  try {
    const page = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(page.status, 503);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    await page.body?.cancel();
    const css = await fetch(`http://127.0.0.1:${server.port}/static/style.css`);
    assert.equal(css.status, 200);
    assert.match(await css.text(), /prefers-color-scheme: dark/);
  } finally {
    await server.close();
  }
});
