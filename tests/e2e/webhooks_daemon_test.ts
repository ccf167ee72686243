/**
 * Kick's webhooks as the daemon's third source (issue 15, "Done when"): with Pusher switched off and the poll
 * at 10 minutes, a go-live delivered by a signed webhook is in `events list` within a second, with source
 * `webhook`; the same delivery posted three times, and once more under a new message id (Kick does both),
 * is one event. The daemon keeps the app's subscriptions in step with the streamer list. A signed
 * `livestream.metadata.updated` is a `title` event (source webhook) and a `title` message to a fake Discord.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { FakeWorld } from "../../src/sim/world.ts";
import { startFakeKick } from "../../src/sim/kick.ts";
import { generateWebhookSigningKey, startFakeWebhookSender } from "../../src/sim/webhooks.ts";
import { openStore } from "../../src/store/store.ts";
import { freePort, runCli, spawnCli, waitFor } from "../helpers/cli.ts";
import { startFakeDiscord } from "../fakes/notification_services.ts";
import { simulatedKickEnv } from "../helpers/daemon_env.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const SECRET = "e2e-webhook-secret-5d1e";
const DISCORD_TOKEN = "e2e-title-discord-token_ABCDEFGHIJKLMNOP";

Deno.test({
  name:
    "webhooks: with Pusher off, a signed go-live is recorded within a second, once, however often sent",
  ignore: TEST_DATABASE_URL === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const database = `kick_e2e_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const admin = postgres(TEST_DATABASE_URL!, { onnotice: () => {}, max: 1 });
    await admin.unsafe(`CREATE DATABASE ${database}`);
    const direct = new URL(TEST_DATABASE_URL!);
    direct.pathname = `/${database}`;
    const world = new FakeWorld();
    world.addStreamer("hooked");
    world.addStreamer("other");
    const key = await generateWebhookSigningKey();
    const kick = await startFakeKick({
      world,
      clientId: "e2e-client",
      clientSecret: SECRET,
      webhooks: { signingKey: key },
    });
    const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-e2e-" });
    const webhookPort = freePort();
    const httpPort = freePort();
    const env = simulatedKickEnv({
      kickUrl: kick.url,
      pusherUrl: "off",
      clientId: "e2e-client",
      clientSecret: SECRET,
      dataDir,
      httpPort,
      databaseUrl: direct.toString(),
    }, {
      KICK_PUSHER_URL: "off",
      KICK_MONITOR_POLL_INTERVAL: "600",
      KICK_WEBHOOK_LISTEN: `127.0.0.1:${webhookPort}`,
    });
    const store = await openStore({ databaseUrl: direct.toString() });
    const sender = startFakeWebhookSender({
      world,
      targetUrl: `http://127.0.0.1:${webhookPort}/kick/webhook`,
      privateKey: key.privateKey,
    });
    let service: ReturnType<typeof spawnCli> | null = null;
    const discord = await startFakeDiscord({ limit: 100, windowMs: 1000 });
    discord.addWebhook("78", DISCORD_TOKEN);
    try {
      const added = await runCli(["streamers", "add", "hooked", "other"], env);
      assert.equal(added.code, 0, added.stderr);
      const target = await runCli([
        "notify",
        "add",
        "titles",
        discord.webhookUrl("78", DISCORD_TOKEN),
        "--kind",
        "discord",
        "--events",
        "online,offline,title",
      ], env);
      assert.equal(target.code, 0, target.stderr);
      service = spawnCli(["service", "start"], env);
      // Subscribed by the daemon itself: the app's subscriptions follow the streamer list.
      await waitFor(
        "the daemon to subscribe both streamers",
        () => Promise.resolve(kick.subscriptions.subscriptions.length >= 4),
        20_000,
        100,
      );
      await waitFor(
        "the baseline",
        async () => {
          const record = await store.getStreamer("hooked");
          return record?.status === "offline";
        },
        20_000,
        100,
      );

      world.goLive("hooked", { title: "live via webhook" });
      const delivered = Date.now();
      await sender.settled();
      await waitFor(
        "the webhook's online in the database",
        async () => {
          const events = await store.listEvents({ slug: "hooked", limit: 10 });
          return events.length === 1;
        },
        5_000,
        10,
      );
      const latencyMs = Date.now() - delivered;
      assert.ok(latencyMs < 1_000 + 500, `recorded ${latencyMs} ms after the delivery`);
      const listed = await runCli(["events", "list", "--streamer", "hooked", "--json"], env);
      const events = JSON.parse(listed.stdout);
      assert.deepEqual(events.map((e: { type: string; source: string }) => [e.type, e.source]), [
        ["online", "webhook"],
      ]);

      // The same delivery three more times, then under a new message id: still one event.
      for (let i = 0; i < 3; i++) await sender.send("hooked");
      sender.injectFault({ kind: "duplicate", newId: true });
      await sender.send("hooked");
      await sender.settled();
      assert.ok(
        sender.deliveries.every((d) => d.status === 200),
        JSON.stringify(sender.deliveries),
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await store.listEvents({ slug: "hooked", limit: 10 })).length, 1);

      // A forged delivery (wrong key) is refused and changes nothing.
      const forger = await generateWebhookSigningKey();
      const forged = startFakeWebhookSender({
        world,
        targetUrl: `http://127.0.0.1:${webhookPort}/kick/webhook`,
        privateKey: forger.privateKey,
      });
      const answer = await forged.send("other");
      assert.equal(answer.status, 401);
      await forged.close();

      // A title change while live: a signed metadata webhook, recorded at once as a `title` event, the
      // open session retitled, and a `title` message; twice more (same and new message id): still one.
      sender.injectFault({ kind: "duplicate", newId: true });
      assert.ok(world.retitle("hooked", { title: "speedrun any%", category: "Retro" }));
      await sender.settled();
      await waitFor(
        "the title event",
        async () =>
          (await store.listEvents({ slug: "hooked", limit: 10, types: ["title"] })).length === 1,
        5_000,
        20,
      );
      const titled = await runCli(
        ["events", "list", "--streamer", "hooked", "--types", "online,offline,title", "--json"],
        env,
      );
      assert.equal(titled.code, 0, titled.stderr);
      assert.deepEqual(
        JSON.parse(titled.stdout).map((e: Record<string, unknown>) => [e.type, e.source, e.title]),
        [["title", "webhook", "speedrun any%"], ["online", "webhook", "live via webhook"]],
      );
      // The documented listing is unchanged: online and offline only.
      const plain = JSON.parse((await runCli(["events", "list", "--json"], env)).stdout);
      assert.ok(plain.every((e: { type: string }) => e.type !== "title"));
      const session = (await store.getStreamer("hooked"))?.session;
      assert.equal(session?.title, "speedrun any%");
      assert.equal(session?.category, "Retro");
      const posts = () => discord.received.filter((r) => r.method === "POST");
      await waitFor(
        "the title message",
        () => Promise.resolve(posts().some((r) => r.body.includes("changed the title"))),
        15_000,
        50,
      );
      const titleMessages = posts().filter((r) => r.body.includes("changed the title"));
      assert.equal(titleMessages.length, 1);
      assert.match(titleMessages[0].body, /speedrun any%/);
      assert.match(titleMessages[0].body, /Retro/);

      // Kick's subscription limit is on /metrics (issue 15): reached, and which streamer it left out.
      const metric = async (name: string) => {
        const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
        return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
      };
      assert.equal(await metric("kick_monitor_webhook_subscription_limit_reached"), 0);
      assert.equal(await metric("kick_monitor_webhook_unsubscribed_streamers"), 0);
      kick.subscriptions.limit = kick.subscriptions.subscriptions.length;
      world.addStreamer("late");
      assert.equal((await runCli(["streamers", "add", "late"], env)).code, 0);
      await waitFor(
        "the limit on /metrics",
        async () => (await metric("kick_monitor_webhook_subscription_limit_reached")) === 1,
        20_000,
        100,
      );
      assert.equal(await metric("kick_monitor_webhook_unsubscribed_streamers"), 1);
    } finally {
      if (service !== null) {
        service.child.kill("SIGTERM");
        const result = await service.output();
        assert.equal(result.code, 0, result.stderr.slice(-2000));
      }
      await sender.close();
      await discord.close();
      await store.close();
      await kick.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
