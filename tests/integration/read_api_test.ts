/**
 * The read API (src/http/read_api.ts) on both backends: the same documents as the CLI's --json, ETags and
 * 304s, cursor paging that neither skips nor repeats, Server-Sent Events, a badge whose text is escaped, and
 * a CSV that a spreadsheet cannot run.
 */
import assert from "node:assert/strict";
import { eventDocument, streamerDocument } from "../../src/domain/documents.ts";
import type { Transition } from "../../src/domain/types.ts";
import { readApiRoutes } from "../../src/http/read_api.ts";
import { ViewerCounts } from "../../src/monitor/viewer_counts.ts";
import { startHttpServer } from "../../src/http/server.ts";
import { dedupeKeyOf } from "../../src/monitor/status_machine.ts";
import { testBackends } from "../helpers/db.ts";

const T0 = Date.parse("2026-12-01T12:00:00Z");

function transition(
  slug: string,
  type: "online" | "offline",
  minutes: number,
  title: string | null,
) {
  const at = new Date(T0 + minutes * 60_000);
  const t: Transition = {
    dedupeKey: dedupeKeyOf(slug, type, at, null),
    slug,
    type,
    occurredAt: at,
    receivedAt: at,
    source: "pusher",
    livestreamId: null,
    title,
    category: type === "online" ? "Just Chatting" : null,
    baseline: false,
    raw: null,
  };
  return t;
}

for (const backend of testBackends()) {
  Deno.test(`read API (${backend.name}): documents, paging, ETag, SSE, badge and CSV`, async () => {
    const database = await backend.open();
    const listeners = new Set<(transitions: Transition[]) => void>();
    const counts = new ViewerCounts({ recordPeaks: () => Promise.resolve([]) });
    let countListeners = 0;
    const server = startHttpServer({ hostname: "127.0.0.1", port: 0 }, {
      health: () => ({ healthy: true }),
      metrics: () => "",
      routes: readApiRoutes({
        store: () => database.store,
        subscribe: (listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
        heartbeatMs: 50,
        viewers: (slug) => counts.of(slug),
        subscribeFirstCounts: (listener) => {
          countListeners++;
          const stop = counts.onFirstCount(listener);
          return () => {
            countListeners--;
            stop();
          };
        },
      }),
    });
    const base = `http://127.0.0.1:${server.port}`;
    try {
      const { store } = database;
      await store.migrate();
      await store.addStreamers([
        { slug: "alpha", broadcasterUserId: 1 },
        { slug: "beta", broadcasterUserId: 2 },
      ]);
      const history: Transition[] = [];
      for (let i = 0; i < 12; i++) {
        history.push(
          transition(
            "alpha",
            i % 2 === 0 ? "online" : "offline",
            i * 10,
            `=HYPERLINK("x") <script>${i}`,
          ),
        );
      }
      await store.applyTransitions(history);

      // The same documents as the CLI's --json.
      const streamers = await fetch(`${base}/api/v1/streamers`);
      assert.equal(streamers.status, 200);
      assert.match(streamers.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      assert.deepEqual(
        await streamers.json(),
        JSON.parse(JSON.stringify((await store.listStreamers()).map(streamerDocument))),
      );
      const etag = streamers.headers.get("etag")!;
      const again = await fetch(`${base}/api/v1/streamers`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304);
      await again.body?.cancel();

      // Pages of 5: 12 events, no gap, no repeat, newest first.
      const seen: number[] = [];
      let next: string | null = `/api/v1/events?streamer=alpha&limit=5`;
      while (next !== null) {
        const page: Response = await fetch(`${base}${next}`);
        assert.equal(page.status, 200);
        seen.push(...(await page.json()).map((e: { id: number }) => e.id));
        next = /<([^>]+)>; rel="next"/.exec(page.headers.get("link") ?? "")?.[1] ?? null;
      }
      const all = (await store.listEvents({ slug: "alpha", limit: 100 })).map(eventDocument);
      assert.deepEqual(seen, all.map((e) => e.id));
      assert.equal(new Set(seen).size, 12);

      assert.equal((await fetch(`${base}/api/v1/events?streamer=nobody`)).status, 404);
      assert.equal((await fetch(`${base}/api/v1/events?limit=0`)).status, 400);

      // Title changes are opt-in (interface.md documents online and offline): `?types=`.
      await store.applyTransitions([{
        ...transition("alpha", "online", 200, "before"),
        type: "title",
        dedupeKey: "alpha:title:200",
        title: "after",
        category: "Chess",
      }]);
      const plain = await (await fetch(`${base}/api/v1/events?streamer=alpha&limit=100`)).json();
      assert.equal(plain.length, 12);
      const typed = await (await fetch(`${base}/api/v1/events?streamer=alpha&types=title`)).json();
      assert.deepEqual(typed.map((e: Record<string, unknown>) => [e.type, e.title, e.category]), [
        ["title", "after", "Chess"],
      ]);
      const badTypes = await fetch(`${base}/api/v1/events?types=live`);
      assert.equal(badTypes.status, 400);
      assert.match((await badTypes.json()).error.message, /unknown event type "live"/);
      const sessions = await fetch(`${base}/api/v1/streamers/alpha/sessions?limit=3`);
      assert.equal((await sessions.json()).length, 3);

      // The badge escapes what it shows; an unknown streamer is a 404 badge.
      const badge = await fetch(`${base}/badge/alpha.svg`);
      assert.equal(badge.headers.get("content-type"), "image/svg+xml");
      assert.match(await badge.text(), /offline/);
      const unknown = await fetch(`${base}/badge/${encodeURIComponent("<x>")}.svg`);
      assert.equal(unknown.status, 404);
      assert.ok(!(await unknown.text()).includes("<x>"));

      // CSV: a title starting with = is not a formula; quotes are doubled.
      const csv = await (await fetch(`${base}/export/sessions.csv?streamer=alpha`)).text();
      const lines = csv.trim().split("\r\n");
      assert.equal(
        lines[0],
        "slug,livestream_id,started_at,ended_at,duration_seconds,title,category",
      );
      assert.equal(lines.length, 1 + 6);
      assert.ok(lines.slice(1).every((line) => line.includes(`"'=HYPERLINK(""x"")`)), lines[1]);

      // Server-Sent Events: a committed transition reaches a connected client.
      const stream = await fetch(`${base}/api/v1/stream`);
      assert.equal(stream.headers.get("content-type"), "text/event-stream");
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The poll's count (and category) for beta, then its go-live transition without a category (as
      // Pusher's): the stream carries the first count as `viewers`, and the transition with what is known.
      const seenAt = new Date("2026-12-03T12:00:00Z");
      counts.observed([{
        slug: "beta",
        status: "online",
        observedAt: seenAt,
        receivedAt: seenAt,
        source: "poll",
        evidence: "poll",
        livestreamId: null,
        title: "hello",
        category: "Chess",
        viewers: 4321,
        raw: null,
      }]);
      for (const listener of listeners) {
        listener([{ ...transition("beta", "online", 500, "hello"), category: null }]);
      }
      let text = "";
      while (!text.includes("event: transition")) text += (await reader.read()).value ?? "";
      while (!text.includes("\n\n", text.indexOf("event: transition"))) {
        text += (await reader.read()).value ?? "";
      }
      const data = JSON.parse(/event: transition\ndata: (.*)\n/.exec(text)![1]);
      assert.equal(data.slug, "beta");
      assert.equal(data.type, "online");
      assert.equal(data.viewers, 4321);
      assert.equal(data.viewers_seen_at, seenAt.toISOString());
      assert.equal(data.category, "Chess");
      assert.deepEqual(JSON.parse(/event: viewers\ndata: (.*)\n/.exec(text)![1]), {
        slug: "beta",
        viewers: 4321,
        viewers_seen_at: seenAt.toISOString(),
        category: "Chess",
      });
      await reader.cancel();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(listeners.size, 0, "a closed stream unsubscribes");
      assert.equal(countListeners, 0, "a closed stream unsubscribes from viewer counts");
    } finally {
      await server.close();
      await database.cleanup();
    }
  });
}
