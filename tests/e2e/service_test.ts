/**
 * End to end: the real CLI (`service start` in a subprocess) against the simulated Kick and Pusher, with
 * PostgreSQL reached through a proxy the test can cut. Runs when TEST_DATABASE_URL is set.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, startFakeKick } from "../../src/sim/kick.ts";
import { type FakePusher, startFakePusher } from "../../src/sim/pusher.ts";
import { openStore, type Store } from "../../src/store/store.ts";
import { freePort, runCli, waitFor } from "../helpers/cli.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp_proxy.ts";
import { simulatedKickEnv } from "../helpers/daemon_env.ts";
import { health, startServiceUntilSubscribed, waitForBaselines } from "../helpers/e2e_rig.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const SECRET = "e2e-client-secret-7f3a9c";

interface Harness {
  world: FakeWorld;
  kick: FakeKick;
  pusher: FakePusher;
  proxy: TcpProxy;
  store: Store;
  env: Record<string, string>;
  dataDir: string;
  httpPort: number;
  cleanup(): Promise<void>;
}

async function setUp(slugs: string[]): Promise<Harness> {
  const admin = new URL(TEST_DATABASE_URL!);
  const database = `kick_e2e_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const sql = postgres(TEST_DATABASE_URL!, { onnotice: () => {} });
  await sql.unsafe(`CREATE DATABASE ${database}`);
  const direct = new URL(TEST_DATABASE_URL!);
  direct.pathname = `/${database}`;
  const proxy = startTcpProxy({ hostname: admin.hostname, port: Number(admin.port || 5432) });
  const viaProxy = new URL(direct);
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = String(proxy.port);

  const world = new FakeWorld();
  for (const slug of slugs) world.addStreamer(slug);
  const kick = await startFakeKick({ world, clientId: "e2e-client", clientSecret: SECRET });
  const pusher = await startFakePusher({ world });
  const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-e2e-" });
  const httpPort = freePort();
  const env = simulatedKickEnv({
    kickUrl: kick.url,
    pusherUrl: pusher.url,
    clientId: "e2e-client",
    clientSecret: SECRET,
    dataDir,
    httpPort,
    databaseUrl: viaProxy.toString(),
  });
  const store = await openStore({ databaseUrl: direct.toString() });
  return {
    world,
    kick,
    pusher,
    proxy,
    store,
    env,
    dataDir,
    httpPort,
    async cleanup() {
      await store.close();
      await proxy.close();
      await pusher.close();
      await kick.close();
      await sql.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await sql.end();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** Starts the daemon, waits for its subscriptions and the start-up baselines (see the e2e rig). */
async function startService(h: Harness, channels: number) {
  const service = await startServiceUntilSubscribed(h.env, h.httpPort, channels);
  await waitForBaselines(h.store);
  return service;
}

async function statusOf(store: Store, slug: string): Promise<string | undefined> {
  return (await store.getStreamer(slug))?.status;
}

Deno.test({
  name:
    "service: live and offline within a second, one row per event, poll after a drop, clean SIGTERM",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const h = await setUp(["alpha", "bravo"]);
    try {
      const added = await runCli(["streamers", "add", "alpha", "bravo"], h.env);
      assert.equal(added.code, 0, added.stderr);
      const service = await startService(h, 4);

      h.world.goLive("alpha", { title: "first stream", category: "Just Chatting" });
      const onlineMs = await waitFor(
        "alpha online",
        async () => (await statusOf(h.store, "alpha")) === "online",
        1_000,
        10,
      );
      const listed = await runCli(["streamers", "list", "--json"], h.env);
      assert.equal(listed.code, 0, listed.stderr);
      const alpha = JSON.parse(listed.stdout).find((s: { slug: string }) => s.slug === "alpha");
      assert.equal(alpha.status, "online");
      assert.equal(alpha.session.title, "first stream");
      assert.equal(alpha.channel_id, h.world.get("alpha").channelId);

      h.world.goOffline("alpha");
      const offlineMs = await waitFor(
        "alpha offline",
        async () => (await statusOf(h.store, "alpha")) === "offline",
        1_000,
        10,
      );

      // Both channel names (channel.{id} and channel_{id}) delivered each event: still one row each.
      const alphaEvents = await h.store.listEvents({ slug: "alpha", limit: 10 });
      assert.deepEqual(alphaEvents.map((e) => [e.type, e.source]), [["offline", "pusher"], [
        "online",
        "pusher",
      ]]);

      // The socket drops while bravo goes offline, and Pusher never tells: the poll after reconnect records it.
      h.world.goLive("bravo");
      await waitFor(
        "bravo online",
        async () => (await statusOf(h.store, "bravo")) === "online",
        1_000,
        10,
      );
      h.pusher.setPublishing(false);
      h.pusher.dropAll();
      h.world.goOffline("bravo");
      h.pusher.setPublishing(true);
      // The poll right after the reconnect comes within seconds of the push online, so it is the API's cache
      // as far as the status machine can tell: it asks again once API_LAG_ALLOWANCE_MS has passed, and once
      // more CONFIRM_AFTER_MS later (status_machine.ts rules 3 and 4), not a whole poll interval later.
      await waitFor(
        "bravo offline via poll",
        async () => (await statusOf(h.store, "bravo")) === "offline",
        30_000,
        50,
      );
      const bravoEvents = await h.store.listEvents({ slug: "bravo", limit: 10 });
      assert.deepEqual(bravoEvents.map((e) => [e.type, e.source]), [["offline", "poll"], [
        "online",
        "pusher",
      ]]);

      const history = await runCli(["streamers", "history", "alpha", "--json"], h.env);
      const sessions = JSON.parse(history.stdout);
      assert.equal(sessions.length, 1);
      assert.ok(sessions[0].ended_at);

      service.child.kill("SIGTERM");
      const result = await service.output();
      assert.equal(result.code, 0, result.stderr.slice(-2000));
      assert.ok(!result.stderr.includes(SECRET), "the client secret leaked into the logs");
      const cursor = Number((await Deno.readTextFile(join(h.dataDir, "journal.cursor"))).trim());
      const journaled =
        (await Deno.readTextFile(join(h.dataDir, "journal.jsonl"))).trim().split("\n").length;
      assert.equal(cursor, journaled, "every journaled transition was committed before exit");
      console.log(`online seen in ${onlineMs} ms, offline in ${offlineMs} ms`);
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test({
  name:
    "service: transitions made while the database is unreachable are all written, once, in order",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const slugs = ["charlie", "delta", "echo"];
    const h = await setUp(slugs);
    try {
      const added = await runCli(["streamers", "add", ...slugs], h.env);
      assert.equal(added.code, 0, added.stderr);
      const service = await startService(h, 6);

      h.proxy.cut();
      const expected: string[] = [];
      for (let round = 0; round < 3; round++) {
        for (const slug of slugs) {
          h.world.goLive(slug, { title: `${slug} ${round}` });
          expected.push(`${slug}:online`);
          await new Promise((r) => setTimeout(r, 30));
          h.world.goOffline(slug);
          expected.push(`${slug}:offline`);
          await new Promise((r) => setTimeout(r, 30));
        }
      }
      // /healthz reports the outage (its probe gives up after 3 s). Asked a few times: one answer can fall
      // between two probes; a daemon that stopped answering is reported with its own last words.
      let during: Record<string, unknown> | null = null;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        during = await health(h.httpPort);
        if (during?.healthy === false) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      if (during?.healthy !== false) {
        service.child.kill("SIGKILL");
        const out = await service.output();
        assert.fail(
          `/healthz did not report the outage (${
            JSON.stringify(during)
          }); daemon exit ${out.code}:\n${
            out.stderr.split("\n").filter((line) => !line.includes('"level":"info"')).slice(-40)
              .join("\n")
          }`,
        );
      }
      h.proxy.restore();

      try {
        await waitFor(
          "every transition to be written",
          async () => (await h.store.listEvents({ limit: 100 })).length >= expected.length,
          30_000,
          100,
        );
      } catch (error) {
        // What was written, and the daemon's own account, so a failure here explains itself.
        const written = (await h.store.listEvents({ limit: 100 })).reverse()
          .map((e) => `${e.slug}:${e.type}@${e.occurredAt.toISOString()} (${e.source})`);
        service.child.kill("SIGKILL");
        const out = await service.output();
        assert.fail(
          `${error}\nexpected ${expected.length}: ${
            expected.join(" ")
          }\nwritten ${written.length}:\n${written.join("\n")}\ndaemon log:\n${
            out.stderr.split("\n").slice(-80).join("\n")
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
      const events = (await h.store.listEvents({ limit: 100 })).reverse();
      assert.equal(events.length, expected.length, "no duplicates");
      for (const slug of slugs) {
        const mine = events.filter((e) => e.slug === slug);
        assert.deepEqual(mine.map((e) => e.type), [
          "online",
          "offline",
          "online",
          "offline",
          "online",
          "offline",
        ]);
        const times = mine.map((e) => e.occurredAt.getTime());
        assert.deepEqual(times, [...times].sort((a, b) => a - b), "in order");
      }
      const sessions = await h.store.listSessions("charlie", 10);
      assert.equal(sessions.length, 3);
      assert.ok(sessions.every((s) => s.endedAt !== null));

      // The lone monitor kept its leases through the outage (nobody could take them) and renews them again.
      await waitFor("service status to list this monitor with every streamer", async () => {
        const result = await runCli(["service", "status", "--json"], h.env);
        const instances = JSON.parse(result.stdout).instances as
          | { streamers: number }[]
          | undefined;
        return instances?.length === 1 && instances[0].streamers === slugs.length;
      }, 20_000);

      service.child.kill("SIGTERM");
      const result = await service.output();
      assert.equal(result.code, 0, result.stderr.slice(-2000));
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test({
  name: "service: one monitor per data dir; status, check, events list and stop",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const h = await setUp(["foxtrot"]);
    try {
      const added = await runCli(["streamers", "add", "foxtrot"], h.env);
      assert.equal(added.code, 0, added.stderr);
      const service = await startService(h, 2);

      const sameDir = await runCli(["service", "start"], { ...h.env, KICK_MONITOR_HTTP: "off" });
      assert.equal(sameDir.code, 1, sameDir.stderr);
      assert.match(sameDir.stderr, /already running on data directory/);

      // The status file is rewritten every 2 s; wait for one that reflects the subscriptions.
      let status: Record<string, unknown> = {};
      await waitFor(
        "service status to show the subscriptions",
        async () => {
          const result = await runCli(["service", "status", "--json"], h.env);
          assert.equal(result.code, 0, result.stderr);
          status = JSON.parse(result.stdout);
          return status.subscribed_channels === 2 && status.journal_backlog === 0;
        },
        15_000,
        200,
      );
      assert.equal(status.running, true);
      assert.equal(status.pid, service.child.pid);
      assert.ok((status.sockets_connected as number) >= 1);

      h.world.goLive("foxtrot", { title: "status check" });
      await waitFor(
        "foxtrot online",
        async () => (await statusOf(h.store, "foxtrot")) === "online",
        5_000,
        20,
      );
      const check = await runCli(["check", "--json"], h.env);
      assert.equal(check.code, 0, check.stderr);
      const report = JSON.parse(check.stdout);
      assert.equal(report.monitor_running, true, "check only reports while a monitor runs");
      assert.equal(report.checked, 1);
      assert.equal(report.online, 1);

      const events = await runCli(["events", "list", "--json", "--streamer", "foxtrot"], h.env);
      assert.equal(events.code, 0, events.stderr);
      const rows = JSON.parse(events.stdout) as Record<string, unknown>[];
      assert.equal(rows.length, 1);
      assert.deepEqual(Object.keys(rows[0]).sort(), [
        "id",
        "livestream_id",
        "occurred_at",
        "received_at",
        "slug",
        "source",
        "title",
        "type",
      ]);
      assert.equal(rows[0].type, "online");
      assert.equal(rows[0].title, "status check");

      const stopped = await runCli(["service", "stop"], h.env);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stdout, /stopped/);
      const result = await service.output();
      assert.equal(result.code, 0, result.stderr.slice(-2000));

      const after = await runCli(["service", "status", "--json"], h.env);
      assert.equal(JSON.parse(after.stdout).running, false);

      // With no monitor running, check records what it finds (foxtrot went offline meanwhile).
      h.world.goOffline("foxtrot");
      const cron = await runCli(["check", "--json"], h.env);
      assert.equal(cron.code, 0, cron.stderr);
      const cronReport = JSON.parse(cron.stdout);
      assert.equal(cronReport.monitor_running, false);
      assert.deepEqual(cronReport.transitions.map((t: { type: string }) => t.type), ["offline"]);
      assert.equal(await statusOf(h.store, "foxtrot"), "offline");
    } finally {
      await h.cleanup();
    }
  },
});
