/**
 * Notifications through the real daemon (issue 13, "Done when"): the simulated Kick drives a go-live and an
 * offline through `service start` into a fake Discord. One message, then the offline edits it; a restart of
 * the daemon, and the same change reported again by Pusher and the poll, send nothing twice; a daemon killed
 * (SIGKILL) right after the commit sends the pending message once it runs again.
 */
import assert from "node:assert/strict";
import { startE2eRig } from "../helpers/e2e_rig.ts";
import { runCli, spawnCli, waitFor } from "../helpers/cli.ts";
import { startFakeDiscord } from "../fakes/notification_services.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const TOKEN = "e2e-daemon-discord-token_ABCDEFGHIJKLMNOP";

Deno.test({
  name:
    "notify: a go-live is one Discord message, the offline edits it, restarts send nothing twice",
  ignore: TEST_DATABASE_URL === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const discord = await startFakeDiscord({ limit: 100, windowMs: 1000 });
    discord.addWebhook("77", TOKEN);
    const rig = await startE2eRig({ databaseUrl: TEST_DATABASE_URL!, slugs: ["star", "quiet"] });
    try {
      assert.equal((await runCli(["streamers", "add", "star", "quiet"], rig.env)).code, 0);
      const added = await runCli(
        [
          "notify",
          "add",
          "ops",
          discord.webhookUrl("77", TOKEN),
          "--kind",
          "discord",
          "--streamers",
          "star",
        ],
        rig.env,
      );
      assert.equal(added.code, 0, added.stderr);
      assert.ok(!added.stdout.includes(TOKEN) && !added.stderr.includes(TOKEN));

      let service = await rig.startService(4);
      const executes = () => discord.received.filter((r) => r.method === "POST");
      const edits = () => discord.received.filter((r) => r.method === "PATCH");
      rig.world.goLive("star", { title: "the big one" });
      rig.world.goLive("quiet");
      await waitFor(
        "one Discord message",
        () => Promise.resolve(executes().length === 1),
        15_000,
        20,
      );
      assert.match(executes()[0].body, /the big one/);
      assert.match(executes()[0].search, /wait=true/);

      // A restart is not news: the baseline and the journal replay notify nobody.
      assert.equal(await rig.stopService(service), null);
      service = await rig.startService(4);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(executes().length, 1, "a restart sent nothing");

      rig.world.goOffline("star");
      await waitFor(
        "the online message edited",
        () => Promise.resolve(edits().length === 1),
        15_000,
        20,
      );
      assert.match(edits()[0].body, /was live for/);
      assert.equal(executes().length, 1);

      // Killed right after the commit: the delivery row committed with the event is sent after the restart.
      rig.world.goLive("star", { title: "second stream" });
      await waitFor(
        "the online committed",
        async () => {
          const events = await rig.store.listEvents({ slug: "star", limit: 1 });
          return events[0]?.type === "online" && events[0]?.title === "second stream";
        },
        15_000,
        5,
      );
      service.child.kill("SIGKILL");
      await service.output();
      const before = executes().length;
      service = spawnCli(["service", "start"], rig.env);
      // The killed daemon's claim (if it got to claim) expires after its lease; a fresh one is sent sooner.
      await waitFor(
        "the second stream's message",
        () =>
          Promise.resolve(
            executes().some((r) => r.body.includes("second stream")),
          ),
        150_000,
        100,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(
        executes().filter((r) => r.body.includes("second stream")).length,
        1,
        "sent once",
      );
      assert.ok(executes().length === before + 1 || executes().length === before);
      assert.equal(await rig.stopService(service), null);

      const log = await runCli(["notify", "log", "--json"], rig.env);
      const deliveries = JSON.parse(log.stdout) as { state: string; kind: string }[];
      assert.ok(deliveries.every((d) => d.state === "delivered"), log.stdout);
      assert.ok(!log.stdout.includes(TOKEN));
    } finally {
      await rig.cleanup();
      await discord.close();
    }
  },
});
