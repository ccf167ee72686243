/**
 * The webhook silence detector in the real daemon (issue 15 item 4): Pusher sees a subscribed streamer go
 * live, no webhook follows within the (shortened) window, and the webhook source says so — /metrics'
 * `kick_monitor_webhook_silent` turns 1, its health detail warns while /healthz stays healthy — until a
 * delivery about that streamer arrives.
 */
import assert from "node:assert/strict";
import { validateSettings } from "../../src/config.ts";
import { runDaemon } from "../../src/monitor/daemon.ts";
import type { Monitor } from "../../src/monitor/monitor.ts";
import { pollSource } from "../../src/monitor/sources/poll.ts";
import { pusherSource } from "../../src/monitor/sources/pusher_source.ts";
import { createWebhookSource } from "../../src/monitor/sources/webhook_source.ts";
import { SINKS } from "../../src/sinks/mod.ts";
import { openConfiguredStore } from "../../src/resources.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import { startFakeKick } from "../../src/sim/kick.ts";
import { startFakePusher } from "../../src/sim/pusher.ts";
import { generateWebhookSigningKey, startFakeWebhookSender } from "../../src/sim/webhooks.ts";
import { freePort } from "../helpers/cli.ts";
import { simulatedKickEnv } from "../helpers/daemon_env.ts";

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("webhook silence: a change seen by Pusher with no webhook is flagged, then cleared by one", async () => {
  const world = new FakeWorld();
  world.addStreamer("quiet");
  const key = await generateWebhookSigningKey();
  const kick = await startFakeKick({
    world,
    clientId: "silence-client",
    clientSecret: "silence-secret-1",
    webhooks: { signingKey: key },
  });
  const pusher = await startFakePusher({ world });
  const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-silence-" });
  const webhookPort = freePort();
  const env = simulatedKickEnv({
    kickUrl: kick.url,
    pusherUrl: pusher.url,
    clientId: "silence-client",
    clientSecret: "silence-secret-1",
    dataDir,
    httpPort: freePort(),
  }, { KICK_WEBHOOK_LISTEN: `127.0.0.1:${webhookPort}`, LOG_LEVEL: "error" });
  const validated = validateSettings(
    Object.fromEntries(Object.entries(env).filter(([, value]) => value !== "")),
  );
  if (validated.config === null) throw new Error(validated.problems.join("; "));
  const config = validated.config;
  const stop = new AbortController();
  try {
    const setup = await openConfiguredStore(config);
    await setup.store.addStreamers([{
      slug: "quiet",
      broadcasterUserId: world.get("quiet").broadcasterUserId,
      channelId: world.get("quiet").channelId,
      chatroomId: world.get("quiet").chatroomId,
    }]);
    await setup.close();
    let monitor: Monitor | null = null;
    const daemon = runDaemon(config, {
      sources: [pusherSource, pollSource, createWebhookSource({ silenceWindowMs: 500 })],
      sinks: SINKS,
      signal: stop.signal,
      onStarted: (started) => monitor = started,
    });
    await waitFor(
      "the daemon to subscribe",
      () => Promise.resolve(monitor !== null && kick.subscriptions.subscriptions.length >= 2),
    );
    await waitFor("the baseline", () => Promise.resolve(monitor!.status().last_poll_at !== null));
    const silent = () => /^kick_monitor_webhook_silent (\d)/m.exec(monitor!.metrics.render())?.[1];
    assert.equal(silent(), "0");

    world.goLive("quiet", { title: "no webhook for this" });
    await waitFor("the silence to be flagged", async () => {
      const health = await monitor!.health();
      return String(health.webhook).startsWith("warning");
    });
    const health = await monitor!.health();
    assert.equal(health.healthy, true, "silence is a warning: /healthz stays 200");
    assert.match(String(health.webhook), /not a failure.*quiet/);
    assert.equal(silent(), "1");

    // A delivery about the streamer ends the episode.
    const sender = startFakeWebhookSender({
      world,
      targetUrl: `http://127.0.0.1:${webhookPort}/kick/webhook`,
      privateKey: key.privateKey,
    });
    assert.equal((await sender.send("quiet")).status, 200);
    await sender.close();
    assert.equal(String((await monitor!.health()).webhook), "ok");
    assert.equal(silent(), "0");
    stop.abort();
    await daemon;
  } finally {
    stop.abort();
    await pusher.close();
    await kick.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
