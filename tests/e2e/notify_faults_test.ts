/**
 * Notifications through the real daemon while the fake Discord misbehaves (issue 13, "Done when"): a 429 storm,
 * then an outage (every request answered 503), while four streamers go live and offline, one of them three
 * times over. Every message arrives exactly once, in order per streamer (a stream's online before its edit, a
 * later stream after the earlier one), and no request arrives inside a wait the fake announced.
 *
 * The outage lasts 15 s, not 60 s: the daemon's retry policy for a 5xx is stateless apart from the attempt
 * number (src/notify/retry.ts: back-off 5–10 s, then 10–20 s, …), so a 15 s outage already makes the first
 * deliveries fail twice (the first attempt, and the first retry 5–10 s later, with 5 s to spare for a slow
 * machine) and be retried after it ends; a longer outage only adds more failed attempts of the same kind,
 * handled the same way, and would push the test past its time budget (the next back-off steps are 20–40 s).
 */
import assert from "node:assert/strict";
import { startE2eRig } from "../helpers/e2e_rig.ts";
import { runCli, waitFor } from "../helpers/cli.ts";
import { startFakeDiscord } from "../fakes/notification_services.ts";
import { listDeliveries } from "../../src/store/delivery_log.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const TOKEN = "e2e-faults-discord-token_QRSTUVWXYZabcdef";
const SLUGS = ["alpha", "bravo", "charlie", "delta"];
const OUTAGE_MS = 15_000;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The slug and the text of a message the fake stored (embed title "{slug} is/was live on Kick"). */
function describe(message: Record<string, unknown>): { slug: string; text: string } {
  const embed = (message.embeds as { title: string; description: string }[])[0];
  return { slug: embed.title.split(" ")[0], text: embed.description };
}

Deno.test({
  name: "notify: a 429 storm and a Discord outage lose nothing, double nothing, reorder nothing",
  ignore: TEST_DATABASE_URL === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Discord's real webhook budget (5 per 2 s), announced through the X-RateLimit-* headers.
    const discord = await startFakeDiscord({ limit: 5, windowMs: 2000 });
    discord.addWebhook("91", TOKEN);
    const rig = await startE2eRig({ databaseUrl: TEST_DATABASE_URL!, slugs: SLUGS });
    try {
      assert.equal((await runCli(["streamers", "add", ...SLUGS], rig.env)).code, 0);
      const added = await runCli(
        ["notify", "add", "ops", discord.webhookUrl("91", TOKEN), "--kind", "discord"],
        rig.env,
      );
      assert.equal(added.code, 0, added.stderr);
      const service = await rig.startService(SLUGS.length * 2);
      const deliveries = async () => {
        const log = await runCli(["notify", "log", "--json", "--limit", "100"], rig.env);
        assert.equal(log.code, 0, log.stderr);
        return JSON.parse(log.stdout) as { state: string; attempts: number; slug: string }[];
      };
      // Polled through the store directly: a CLI process every 250 ms would load the machine it measures.
      const settled = async (count: number) => {
        const rows = await listDeliveries(rig.store.db, { limit: 100 });
        return rows.length === count && rows.every((d) => d.state !== "pending");
      };
      // A wait that times out says why: the deliveries as stored, the events recorded, what the fake took
      // and refused, and the daemon's log (CI once timed out here with nothing else to go on).
      const settledOrExplain = async (what: string, count: number, timeoutMs: number) => {
        try {
          await waitFor(what, () => settled(count), timeoutMs, 250);
        } catch (error) {
          const rows = await listDeliveries(rig.store.db, { limit: 100 });
          const events = await rig.store.db.query(
            `SELECT s.slug, e.type, e.source, e.occurred_at FROM status_events e JOIN streamers s ON s.id = e.streamer_id
              ORDER BY e.id`,
          );
          service.child.kill("SIGKILL");
          const { stderr } = await service.output();
          throw new Error(
            `${error instanceof Error ? error.message : error}\ndeliveries: ${
              JSON.stringify(rows)
            }\n` +
              `events: ${JSON.stringify(events)}\nfake: ${JSON.stringify(discord.stats)}\n` +
              `daemon log:\n${stderr.slice(-6000)}`,
          );
        }
      };
      // Each stream's online says which stream it is; the offline edits that very message.
      const live = (slug: string, n: number) =>
        rig.world.goLive(slug, { title: `${slug} stream ${n}` });

      // 1. A 429 storm (another client used the bucket up) while all four go live and two end.
      discord.storm(6_000);
      for (const slug of SLUGS) live(slug, 1);
      await pause(1_500);
      rig.world.goOffline("alpha");
      rig.world.goOffline("bravo");
      await settledOrExplain("the storm's deliveries", 6, 45_000);
      assert.ok(discord.stats.rateLimited >= 1, "the storm refused something");

      // 2. An outage: every request answers 503 while alpha streams twice more, bravo once, the rest end.
      discord.failNext(503, 1_000_000);
      const outageStarted = Date.now();
      live("alpha", 2);
      live("bravo", 2);
      rig.world.goOffline("charlie");
      rig.world.goOffline("delta");
      await pause(1_500);
      rig.world.goOffline("alpha");
      await pause(1_500);
      live("alpha", 3);
      await pause(Math.max(0, OUTAGE_MS - (Date.now() - outageStarted)));
      discord.failNext(503, 0);
      // onlines: 4 + alpha 2, 3 + bravo 2 = 7; offlines: alpha 1, 2, bravo 1, charlie 1, delta 1 = 5.
      await settledOrExplain("every delivery after the outage", 12, 60_000);
      // /metrics counts by target name and state only: the webhook's URL and token appear nowhere.
      const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
      assert.match(
        metrics,
        /kick_monitor_notifications_total\{state="delivered",target="ops"\} 12/,
      );
      assert.match(metrics, /kick_monitor_notifications_total\{state="retry",target="ops"\} \d+/);
      assert.ok(!metrics.includes(TOKEN) && !metrics.includes("/api/webhooks/"), metrics);
      assert.equal(await rig.stopService(service), null);

      const rows = await deliveries();
      assert.ok(rows.every((d) => d.state === "delivered"), JSON.stringify(rows));
      // The outage was long enough to fail a delivery's first retry too (first attempt, retry, success).
      assert.ok(rows.some((d) => d.attempts >= 3), JSON.stringify(rows));
      assert.equal(discord.stats.early, 0, "a request arrived inside an announced wait");

      // Exactly once, in order per streamer: [POST stream 1, PATCH it, POST stream 2, PATCH it, POST stream 3].
      const expected: Record<string, string[]> = {
        alpha: ["POST 1", "PATCH 1", "POST 2", "PATCH 2", "POST 3"],
        bravo: ["POST 1", "PATCH 1", "POST 2"],
        charlie: ["POST 1", "PATCH 1"],
        delta: ["POST 1", "PATCH 1"],
      };
      const streamOf = new Map<string, string>();
      const seen: Record<string, string[]> = {};
      for (const entry of discord.acceptedLog) {
        const { slug, text } = describe(entry.message);
        if (entry.method === "POST") {
          const n = /stream (\d+)/.exec(text)?.[1] ?? "?";
          streamOf.set(entry.messageId, n);
        } else {
          assert.match(text, /was live for/, "an edit says the stream ended");
        }
        (seen[slug] ??= []).push(`${entry.method} ${streamOf.get(entry.messageId) ?? "?"}`);
      }
      assert.deepEqual(seen, expected);
      assert.equal(discord.messages.size, 7, "one message per stream");
    } finally {
      await rig.cleanup();
      await discord.close();
    }
  },
});
