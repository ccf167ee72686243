/**
 * End to end (issue 16): two real daemons on one PostgreSQL database, against the simulated Kick, split the
 * streamers within 10 % of half each; after a SIGKILL of one, the other owns them all within
 * KICK_MONITOR_LEASE_TTL + 5 s, and `service status --json` lists it alone. Runs when TEST_DATABASE_URL is set.
 */
import assert from "node:assert/strict";
import { freePort, runCli, spawnCli, waitFor } from "../helpers/cli.ts";
import { health, startE2eRig } from "../helpers/e2e_rig.ts";
import { startTcpProxy } from "../helpers/tcp_proxy.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
/** KICK_MONITOR_STREAMERS_E2E overrides the count (the figure is 1,000). */
const STREAMERS = Number(Deno.env.get("KICK_MONITOR_STREAMERS_E2E") ?? "1000");
const TTL_SECONDS = 3;

interface Instance {
  id: string;
  streamers: number;
  last_seen_at: string;
}

async function leaseQueries(port: number): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^kick_monitor_lease_queries_total (\d+)/m.exec(metrics)?.[1]);
}

async function instancesOf(env: Record<string, string>): Promise<Instance[]> {
  const result = await runCli(["service", "status", "--json"], env);
  if (result.code !== 0) return [];
  return (JSON.parse(result.stdout).instances ?? []) as Instance[];
}

Deno.test({
  name:
    "several monitors: two daemons split the streamers; a killed one's share moves within TTL + 5 s",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const slugs = Array.from({ length: STREAMERS }, (_, i) => `streamer${i}`);
    const rig = await startE2eRig({
      databaseUrl: TEST_DATABASE_URL!,
      slugs,
      env: { KICK_MONITOR_LEASE_TTL: String(TTL_SECONDS), LOG_LEVEL: "warn" },
    });
    const otherDir = await Deno.makeTempDir({ prefix: "kick-monitor-e2e-b-" });
    const otherPort = freePort();
    const envA = { ...rig.env, KICK_MONITOR_INSTANCE: "monitor-a" };
    const envB = {
      ...rig.env,
      KICK_MONITOR_INSTANCE: "monitor-b",
      KICK_MONITOR_DATA_DIR: otherDir,
      KICK_MONITOR_HTTP: `127.0.0.1:${otherPort}`,
    };
    const daemons: ReturnType<typeof spawnCli>[] = [];
    try {
      // The streamers with their ids already known, as `streamers add` leaves them.
      await rig.store.migrate();
      await rig.store.addStreamers(slugs.map((slug) => {
        const fake = rig.world.get(slug);
        return { slug, broadcasterUserId: fake.broadcasterUserId, channelId: fake.channelId };
      }));
      daemons.push(spawnCli(["service", "start"], envA));
      await waitFor(
        "monitor-a to own every streamer",
        async () => (await health(rig.httpPort))?.streamers === STREAMERS,
        60_000,
        200,
      );
      daemons.push(spawnCli(["service", "start"], envB));
      // Each watches (and subscribes on Pusher) only its own share.
      const half = STREAMERS / 2;
      const near = (n: unknown) => typeof n === "number" && Math.abs(n - half) <= half * 0.1;
      await waitFor(
        "the two monitors to split the streamers",
        async () => {
          const [a, b] = [await health(rig.httpPort), await health(otherPort)];
          return near(a?.streamers) && near(b?.streamers) &&
            (a!.streamers as number) + (b!.streamers as number) === STREAMERS &&
            a!.subscribed_channels === 2 * (a!.streamers as number) &&
            b!.subscribed_channels === 2 * (b!.streamers as number);
        },
        60_000,
        200,
      );
      // The status file is rewritten every 2 s, from the last heartbeat.
      let split: Instance[] = [];
      await waitFor(
        "service status to list both monitors",
        async () => {
          split = await instancesOf(envA);
          return split.length === 2 && split.every((i) => near(i.streamers));
        },
        20_000,
        200,
      );
      assert.deepEqual(split.map((i) => i.id), ["monitor-a", "monitor-b"]);
      // The text report of either says who shares the database.
      await waitFor(
        "service status (text) to name both monitors",
        async () => {
          const text = await runCli(["service", "status"], envB);
          return /Monitors: +monitor-a \(\d+ streamers\), monitor-b \(\d+ streamers\)/.test(
            text.stdout,
          );
        },
        20_000,
        200,
      );

      // SIGKILL: no release, the leases must expire.
      daemons[1].child.kill("SIGKILL");
      await daemons[1].output();
      const killedAt = Date.now();
      await waitFor(
        "monitor-a to own every streamer again",
        async () => (await health(rig.httpPort))?.streamers === STREAMERS,
        60_000,
        100,
      );
      const tookMs = Date.now() - killedAt;
      assert.ok(tookMs <= (TTL_SECONDS + 5) * 1000, `took ${tookMs} ms`);
      await waitFor(
        "service status to list monitor-a alone with every streamer",
        async () => {
          const instances = await instancesOf(envA);
          return instances.length === 1 && instances[0].id === "monitor-a" &&
            instances[0].streamers === STREAMERS;
        },
        20_000,
        200,
      );
      await waitFor(
        "monitor-a to subscribe every channel",
        async () => (await health(rig.httpPort))?.subscribed_channels === 2 * STREAMERS,
        60_000,
        200,
      );
      const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
      assert.match(metrics, new RegExp(`kick_monitor_owned_streamers ${STREAMERS}`));
      assert.match(metrics, /kick_monitor_lease_handovers_total\{direction="given"\} \d+/);
      console.log(`take-over after SIGKILL: ${tookMs} ms (TTL ${TTL_SECONDS} s)`);
      // The upkeep: a heartbeat statement per TTL / 5 (at least 1 s), whatever the number of streamers.
      const before = await leaseQueries(rig.httpPort);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const perSecond = (await leaseQueries(rig.httpPort) - before) / 3;
      console.log(`lease upkeep: ${perSecond.toFixed(2)} statements/s for ${STREAMERS} streamers`);
      assert.ok(perSecond < 5, `${perSecond} lease statements/s`);

      const failed = await rig.stopService(daemons[0]);
      assert.equal(failed, null, failed ?? "");
    } finally {
      for (const daemon of daemons) {
        try {
          daemon.child.kill("SIGKILL");
        } catch { /* already exited */ }
        await daemon.output();
      }
      await rig.cleanup();
      await Deno.remove(otherDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "several monitors: one cut from the database steps back; the other takes over, and no stale write lands",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const count = 40;
    const slugs = Array.from({ length: count }, (_, i) => `streamer${i}`);
    const rig = await startE2eRig({
      databaseUrl: TEST_DATABASE_URL!,
      slugs,
      env: { KICK_MONITOR_LEASE_TTL: String(TTL_SECONDS), LOG_LEVEL: "warn" },
    });
    // monitor-b reaches the database through a proxy the test can cut (a network partition).
    const target = new URL(rig.env.DATABASE_URL);
    const proxy = startTcpProxy({ hostname: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(target);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    const otherDir = await Deno.makeTempDir({ prefix: "kick-monitor-e2e-b-" });
    const otherPort = freePort();
    const envA = { ...rig.env, KICK_MONITOR_INSTANCE: "monitor-a" };
    const envB = {
      ...rig.env,
      DATABASE_URL: viaProxy.toString(),
      KICK_MONITOR_INSTANCE: "monitor-b",
      KICK_MONITOR_DATA_DIR: otherDir,
      KICK_MONITOR_HTTP: `127.0.0.1:${otherPort}`,
    };
    const daemons: ReturnType<typeof spawnCli>[] = [];
    try {
      await rig.store.migrate();
      await rig.store.addStreamers(slugs.map((slug) => {
        const fake = rig.world.get(slug);
        return { slug, broadcasterUserId: fake.broadcasterUserId, channelId: fake.channelId };
      }));
      daemons.push(spawnCli(["service", "start"], envA), spawnCli(["service", "start"], envB));
      await waitFor(
        "the two monitors to split the streamers",
        async () => {
          const [a, b] = [await health(rig.httpPort), await health(otherPort)];
          return a?.streamers === count / 2 && b?.streamers === count / 2;
        },
        60_000,
        200,
      );
      const ownedByB = await rig.store.db.query<{ slug: string }>(
        `SELECT s.slug FROM streamer_leases l JOIN streamers s ON s.id = l.streamer_id
          WHERE l.owner = 'monitor-b' ORDER BY s.slug`,
      );

      proxy.cut();
      // While cut off, b's streamers change: a must take them over, poll them and record it.
      const changed = ownedByB.slice(0, 3).map((row) => row.slug);
      for (const slug of changed) rig.world.goLive(slug, { title: "during the partition" });
      await waitFor(
        "monitor-a to own every streamer",
        async () => {
          return (await health(rig.httpPort))?.streamers === count;
        },
        (TTL_SECONDS + 5) * 1000,
        100,
      );
      await waitFor(
        "monitor-a to record the changes of monitor-b's former streamers",
        async () => {
          const statuses = await Promise.all(changed.map((slug) => rig.store.getStreamer(slug)));
          return statuses.every((s) => s?.status === "online");
        },
        30_000,
        200,
      );
      // b, cut off for a whole TTL while a was alive, stopped watching on its own.
      await waitFor(
        "monitor-b to step back",
        async () => {
          return (await health(otherPort))?.streamers === 0;
        },
        (TTL_SECONDS + 5) * 1000,
        200,
      );

      proxy.restore();
      await waitFor(
        "the two monitors to split the streamers again",
        async () => {
          const [a, b] = [await health(rig.httpPort), await health(otherPort)];
          return a?.streamers === count / 2 && b?.streamers === count / 2;
        },
        60_000,
        200,
      );
      // b heard the changes on Pusher before stepping back and journaled them; written after the partition
      // under its old epochs, they are refused.
      await waitFor(
        "monitor-b's stale transitions to be refused",
        async () => {
          const metrics = await (await fetch(`http://127.0.0.1:${otherPort}/metrics`)).text();
          return Number(/^kick_monitor_stale_writes_refused_total (\d+)/m.exec(metrics)?.[1]) > 0;
        },
        30_000,
        200,
      );
      // Every recorded event was written under a lease its writer had claimed (lease_log), none stale.
      const [{ stale }] = await rig.store.db.query<{ stale: number }>(
        `SELECT count(*) AS stale FROM status_events e
          WHERE e.instance IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM lease_log g
             WHERE g.streamer_id = e.streamer_id AND g.epoch = e.epoch AND g.owner = e.instance)`,
      );
      assert.equal(Number(stale), 0);
      const [{ recorded }] = await rig.store.db.query<{ recorded: number }>(
        "SELECT count(*) AS recorded FROM status_events WHERE instance IS NOT NULL",
      );
      assert.ok(Number(recorded) >= changed.length);
      for (const daemon of daemons) {
        const failed = await rig.stopService(daemon);
        assert.equal(failed, null, failed ?? "");
      }
    } finally {
      for (const daemon of daemons) {
        try {
          daemon.child.kill("SIGKILL");
        } catch { /* already exited */ }
        await daemon.output();
      }
      await proxy.close();
      await rig.cleanup();
      await Deno.remove(otherDir, { recursive: true });
    }
  },
});
