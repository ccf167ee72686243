/**
 * `webhooks subscribe | list | unsubscribe` (interface.md "Kick's official webhooks") on the real CLI in a
 * subprocess, against the simulated Kick's subscriptions API (src/sim/webhooks.ts): the round trip, duplicates,
 * and every exit code (2 usage, 1 limit or unknown slug, 69 unreachable, 78 credentials or webhooks disabled).
 * The case that reads the monitored streamers runs on PostgreSQL when TEST_DATABASE_URL is set.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, type FakeKickOptions, startFakeKick } from "../../src/sim/kick.ts";
import { freePort } from "../helpers/cli.ts";
import { isolatedCliEnv, runCliWithin } from "../helpers/isolated_cli.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const SECRET = "webhooks-cli-secret-7c1e";
const STATUS = "livestream.status.updated";
const META = "livestream.metadata.updated";

interface Harness {
  kick: FakeKick;
  world: FakeWorld;
  env: Record<string, string>;
  run(...args: string[]): ReturnType<typeof runCliWithin>;
  cleanup(): Promise<void>;
}

async function harness(
  options: { webhooks?: FakeKickOptions["webhooks"]; env?: Record<string, string> } = {},
): Promise<Harness> {
  const world = new FakeWorld();
  world.addStreamer("alice", { broadcasterUserId: 1001 });
  world.addStreamer("bob", { broadcasterUserId: 1002 });
  world.addStreamer("carol", { broadcasterUserId: 1003 });
  const kick = await startFakeKick({
    world,
    clientId: "cli-client",
    clientSecret: SECRET,
    webhooks: options.webhooks,
  });
  const { dir, env } = await isolatedCliEnv({
    KICK_CLIENT_ID: "cli-client",
    KICK_CLIENT_SECRET: SECRET,
    KICK_OAUTH_URL: kick.url,
    KICK_API_URL: kick.url,
    KICK_WEB_URL: kick.url,
    KICK_API_RATE: "100",
    ...options.env,
  });
  return {
    kick,
    world,
    env,
    run: (...args) => runCliWithin(args, env, { cwd: dir, limitMs: 60_000 }),
    async cleanup() {
      await kick.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("webhooks: subscribe, list, unsubscribe round trip; only the monitor's events are touched", async () => {
  const h = await harness();
  try {
    // Another tool's subscription on the same app: shown, never deleted.
    h.kick.subscriptions.handle(
      "POST",
      new URL("http://x/"),
      JSON.stringify({
        broadcaster_user_id: 1003,
        events: [{ name: "chat.message.sent", version: 1 }],
        method: "webhook",
      }),
    );
    const subscribed = await h.run("webhooks", "subscribe", "alice", "Bob");
    assert.equal(subscribed.code, 0, subscribed.stderr);
    assert.match(subscribed.stdout, new RegExp(`alice: subscribed \\(${STATUS}, ${META}\\)`));
    assert.match(subscribed.stdout, /bob: subscribed/);
    assert.match(subscribed.stdout, /KICK_WEBHOOK_LISTEN is off/);
    assert.equal(h.kick.subscriptions.subscriptions.length, 5);

    const again = await h.run("webhooks", "subscribe", "alice");
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /alice: already subscribed/);
    assert.equal(h.kick.subscriptions.subscriptions.length, 5);

    const list = await h.run("webhooks", "list", "--json");
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Record<string, unknown>[];
    assert.equal(rows.length, 5);
    assert.deepEqual(Object.keys(rows[0]).sort(), [
      "broadcaster_user_id",
      "created_at",
      "event",
      "id",
      "slug",
      "version",
    ]);
    assert.deepEqual(
      rows.map((r) => `${r.slug} ${r.event}`).sort(),
      [
        `alice ${META}`,
        `alice ${STATUS}`,
        `bob ${META}`,
        `bob ${STATUS}`,
        "carol chat.message.sent",
      ],
    );
    const text = await h.run("webhooks", "list");
    assert.match(text.stdout, /STREAMER\s+BROADCASTER ID\s+EVENT/);
    assert.match(text.stdout, /alice\s+1001\s+livestream\.status\.updated\s+1/);

    const one = await h.run("webhooks", "unsubscribe", "alice", "carol");
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /alice: unsubscribed \(2 subscription\(s\)\)/);
    assert.match(one.stdout, /carol: was not subscribed/);
    assert.equal(h.kick.subscriptions.subscriptions.length, 3);

    const all = await h.run("webhooks", "unsubscribe", "--all");
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /Deleted 2 subscription\(s\)/);
    assert.deepEqual(h.kick.subscriptions.subscriptions.map((s) => s.event), [
      "chat.message.sent",
    ]);
  } finally {
    await h.cleanup();
  }
});

Deno.test("webhooks: usage errors exit 2; an unknown slug exits 1 and changes nothing", async () => {
  const h = await harness();
  try {
    const none = await h.run("webhooks", "unsubscribe");
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /Name the streamers to unsubscribe, or use --all/);
    const both = await h.run("webhooks", "unsubscribe", "alice", "--all");
    assert.equal(both.code, 2, both.stderr);
    const badSlug = await h.run("webhooks", "subscribe", "not a slug!");
    assert.equal(badSlug.code, 2, badSlug.stderr);
    const flag = await h.run("webhooks", "list", "--yaml");
    assert.equal(flag.code, 2);

    const unknown = await h.run("webhooks", "subscribe", "alice", "nobody_here");
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /no channel named "nobody_here"; nothing was changed/);
    assert.equal(h.kick.subscriptions.subscriptions.length, 0);

    for (const command of ["subscribe", "list", "unsubscribe"]) {
      const help = await h.run("webhooks", command, "--help");
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /Usage:/);
    }
  } finally {
    await h.cleanup();
  }
});

Deno.test("webhooks: the subscription limit is explained (exit 1); webhooks disabled on the app is 78", async () => {
  const h = await harness({ webhooks: { limit: 3 } });
  try {
    const limited = await h.run("webhooks", "subscribe", "alice", "bob");
    assert.equal(limited.code, 1, limited.stderr);
    assert.match(limited.stdout, /alice: subscribed/);
    assert.match(limited.stderr, /event subscription limit is reached/);
    assert.match(limited.stderr, /webhooks unsubscribe SLUG/);
    const json = await h.run("webhooks", "subscribe", "bob", "--json");
    assert.equal(json.code, 2, "subscribe has no --json");

    h.kick.subscriptions.webhooksEnabled = false;
    h.kick.subscriptions.limit = 100;
    const disabled = await h.run("webhooks", "subscribe", "carol");
    assert.equal(disabled.code, 78, disabled.stderr);
    assert.match(disabled.stderr, /webhooks are not enabled for this app.*settings\/developer/);
  } finally {
    await h.cleanup();
  }
});

Deno.test("webhooks: credentials rejected or missing → 78; Kick unreachable → 69", async () => {
  const h = await harness();
  try {
    const rejected = await runCliWithin(["webhooks", "list"], {
      ...h.env,
      KICK_CLIENT_SECRET: "not-the-secret",
    });
    assert.equal(rejected.code, 78, rejected.stderr);
    assert.match(rejected.stderr, /KICK_CLIENT_ID and KICK_CLIENT_SECRET/);
    assert.ok(!rejected.stderr.includes("not-the-secret"));

    const { KICK_CLIENT_ID: _id, KICK_CLIENT_SECRET: _secret, ...anonymous } = h.env;
    const missing = await runCliWithin(["webhooks", "subscribe", "alice"], anonymous);
    assert.equal(missing.code, 78, missing.stderr);
    assert.match(missing.stderr, /KICK_CLIENT_ID/);

    const closed = `http://127.0.0.1:${freePort()}`;
    const unreachable = await runCliWithin(["webhooks", "list", "--json"], {
      ...h.env,
      KICK_OAUTH_URL: closed,
      KICK_API_URL: closed,
    }, { limitMs: 60_000 });
    assert.equal(unreachable.code, 69, unreachable.stderr);
    assert.equal(JSON.parse(unreachable.stdout).error.kind, "unavailable");
  } finally {
    await h.cleanup();
  }
});

Deno.test({
  name: "webhooks subscribe without slugs: every monitored streamer, duplicates deleted",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const admin = postgres(TEST_DATABASE_URL!, { onnotice: () => {} });
    const name = `kick_wh_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(TEST_DATABASE_URL!);
    url.pathname = `/${name}`;
    const h = await harness({ env: { DATABASE_URL: url.toString() } });
    try {
      const empty = await h.run("webhooks", "subscribe");
      assert.equal(empty.code, 0, empty.stderr);
      assert.match(empty.stdout, /No streamers to subscribe/);

      const added = await h.run("streamers", "add", "alice", "bob");
      assert.equal(added.code, 0, added.stderr);
      // A duplicate (Kick created one twice) and a subscription of a streamer no longer monitored.
      h.kick.subscriptions.duplicateNextCreates = 1;
      const first = await h.run("webhooks", "subscribe", "alice", "carol");
      assert.equal(first.code, 0, first.stderr);
      assert.equal(h.kick.subscriptions.subscriptions.length, 6);

      const all = await h.run("webhooks", "subscribe");
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /alice: already subscribed/);
      assert.match(all.stdout, /bob: subscribed/);
      assert.match(all.stdout, /Deleted 2 duplicate subscription\(s\)/);
      const ids = h.kick.subscriptions.subscriptions.map((s) => s.broadcasterUserId).sort();
      // carol's stay: subscribe never deletes what another streamer was subscribed to.
      assert.deepEqual(ids, [1001, 1001, 1002, 1002, 1003, 1003]);
    } finally {
      await h.cleanup();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  },
});
