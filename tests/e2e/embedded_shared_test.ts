/**
 * End to end, as a new user would do it on the embedded database (issue 14): `service start` in one terminal,
 * and in another `streamers add`, `streamers list`, `events list` work while it runs, through the monitor's
 * socket, and the monitor picks the new streamer up within seconds. Then the monitor is killed (SIGKILL):
 * commands open the database themselves past the socket it left, and the next monitor replaces it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeWorld } from "../../src/sim/world.ts";
import { startFakeKick } from "../../src/sim/kick.ts";
import { startFakePusher } from "../../src/sim/pusher.ts";
import { freePort, runCli, type spawnCli, waitFor } from "../helpers/cli.ts";
import { simulatedKickEnv } from "../helpers/daemon_env.ts";
import { health, startServiceUntilSubscribed } from "../helpers/e2e_rig.ts";

const SECRET = "e2e-shared-embedded-secret-5d1e";

Deno.test({
  name: "embedded database: every command works beside a running monitor, and after it is killed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const world = new FakeWorld();
    world.addStreamer("trainwreckstv");
    world.addStreamer("xqc");
    const kick = await startFakeKick({ world, clientId: "e2e-client", clientSecret: SECRET });
    const pusher = await startFakePusher({ world });
    const root = await Deno.makeTempDir({ prefix: "kick-shared-" });
    const dataDir = join(root, "data");
    const socket = join(dataDir, ".s.PGSQL.5432");
    const httpPort = freePort();
    const env = simulatedKickEnv({
      kickUrl: kick.url,
      pusherUrl: pusher.url,
      clientId: "e2e-client",
      clientSecret: SECRET,
      dataDir,
      httpPort,
    });
    const cli = async (...args: string[]) => {
      const result = await runCli(args, env);
      assert.equal(result.code, 0, `${args.join(" ")} exited ${result.code}: ${result.stderr}`);
      return result;
    };
    const slugsListed = async () =>
      (JSON.parse((await cli("streamers", "list", "--json")).stdout) as { slug: string }[])
        .map((s) => s.slug);
    const startService = (channels: number) =>
      startServiceUntilSubscribed(env, httpPort, channels, 60_000);
    let service: ReturnType<typeof spawnCli> | null = null;
    try {
      // Before any monitor: the command opens the embedded database itself.
      await cli("streamers", "add", "trainwreckstv");
      service = await startService(2);
      assert.equal(Deno.lstatSync(socket).mode! & 0o777, 0o600);

      // The quick start's second terminal.
      const added = await cli("streamers", "add", "xqc");
      assert.match(added.stdout, /xqc: added/);
      assert.deepEqual(await slugsListed(), ["trainwreckstv", "xqc"]);
      assert.deepEqual(JSON.parse((await cli("events", "list", "--json")).stdout), []);
      await cli("db", "migrate");
      // The monitor re-reads its list within seconds (its sync interval is 5 s) and subscribes xqc.
      await waitFor(
        "the monitor to pick xqc up",
        async () => (await health(httpPort))?.subscribed_channels === 4,
        30_000,
        200,
      );
      const status = JSON.parse((await cli("service", "status", "--json")).stdout);
      assert.equal(status.running, true);
      await waitFor(
        "service status to count xqc",
        async () => {
          const report = JSON.parse((await cli("service", "status", "--json")).stdout);
          return report.streamers === 2;
        },
        30_000,
        500,
      );
      // Its first status (a baseline) is in before it goes live: an online answered first would be that baseline.
      await waitFor(
        "xqc's first status",
        async () => {
          const listed = JSON.parse((await cli("streamers", "list", "--json")).stdout);
          return listed.some((s: { slug: string; status: string }) =>
            s.slug === "xqc" && s.status !== "unknown"
          );
        },
        30_000,
        500,
      );

      // What the monitor records is readable meanwhile, the same way.
      world.goLive("xqc", { title: "shared database" });
      await waitFor(
        "xqc's online event in `events list`",
        async () => {
          const events = JSON.parse((await cli("events", "list", "--json")).stdout);
          return events.some((e: { slug: string; type: string }) =>
            e.slug === "xqc" && e.type === "online"
          );
        },
        30_000,
        500,
      );
      const listed = JSON.parse((await cli("streamers", "list", "--json")).stdout);
      assert.equal(listed.find((s: { slug: string }) => s.slug === "xqc").status, "online");

      // A second monitor on the same data directory is still refused, as before.
      const second = await runCli(["service", "start"], env);
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, /already running on data directory/);

      // Killed: the socket stays behind, and commands open the database themselves past it.
      service.child.kill("SIGKILL");
      await service.output();
      service = null;
      assert.ok(Deno.lstatSync(socket).isSocket);
      assert.deepEqual(await slugsListed(), ["trainwreckstv", "xqc"]);

      // The next monitor replaces it, serves again, and removes it when it stops.
      service = await startService(4);
      assert.deepEqual(await slugsListed(), ["trainwreckstv", "xqc"]);
      service.child.kill("SIGTERM");
      const stopped = await service.output();
      service = null;
      assert.equal(stopped.code, 0, stopped.stderr.slice(-3000));
      assert.match(stopped.stderr, /removed the socket a previous monitor left behind/);
      assert.throws(() => Deno.lstatSync(socket), Deno.errors.NotFound);
    } finally {
      if (service !== null) {
        service.child.kill("SIGKILL");
        await service.output();
      }
      await pusher.close();
      await kick.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
