/**
 * End to end (issue 16): two real daemons on one PostgreSQL database, against the simulated Kick, split the
 * streamers within 10 % of half each; after a SIGKILL of one, the other owns them all within
 * KICK_MONITOR_LEASE_TTL + 5 s, and `service status --json` lists it alone. Runs when TEST_DATABASE_URL is set.
 */
import assert from "node:assert/strict";
import { freePort, runCli, spawnCli, waitFor } from "../helpers/cli.ts";
import { health, startE2eRig } from "../helpers/e2e_rig.ts";

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
      // The upkeep: a heartbeat statement per TTL / 3, whatever the number of streamers.
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
