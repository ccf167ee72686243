/**
 * `doctor`'s webhook lines (issue 15 item 7) against the simulated Kick: shown only with KICK_WEBHOOK_LISTEN;
 * with a running daemon behind KICK_WEBHOOK_PUBLIC_URL the key is fetched from Kick, a bad signature is
 * refused 401 at the public URL, the daemon's subscriptions are counted, and the last delivery's age is read
 * from the running monitor. Without a public URL the probe is skipped with a note.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import type { DoctorReport } from "../../src/doctor/checklist.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import { startFakeKick } from "../../src/sim/kick.ts";
import { generateWebhookSigningKey, startFakeWebhookSender } from "../../src/sim/webhooks.ts";
import { freePort, runCli, spawnCli, waitFor } from "../helpers/cli.ts";
import { simulatedKickEnv } from "../helpers/daemon_env.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const SECRET = "doctor-webhook-secret-5d1e";

function lines(report: DoctorReport): Record<string, string> {
  return Object.fromEntries(
    report.checks.filter((c) => c.name.startsWith("webhook_")).map((c) => [c.name, c.status]),
  );
}

function detail(report: DoctorReport, name: string): string {
  return report.checks.find((c) => c.name === name)?.detail ?? "";
}

Deno.test({
  name: "doctor: the webhook lines against a running daemon and the simulated Kick",
  ignore: TEST_DATABASE_URL === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const database = `kick_doctor_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const admin = postgres(TEST_DATABASE_URL!, { onnotice: () => {}, max: 1 });
    await admin.unsafe(`CREATE DATABASE ${database}`);
    const direct = new URL(TEST_DATABASE_URL!);
    direct.pathname = `/${database}`;
    const world = new FakeWorld();
    world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668, chatroomId: 668 });
    const key = await generateWebhookSigningKey();
    const kick = await startFakeKick({
      world,
      clientId: "doctor-client",
      clientSecret: SECRET,
      webhooks: { signingKey: key },
    });
    const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-doctor-webhooks-" });
    const envFile = join(dataDir, "empty.env");
    await Deno.writeTextFile(envFile, "");
    const webhookPort = freePort();
    const receiverUrl = `http://127.0.0.1:${webhookPort}`;
    const base = simulatedKickEnv({
      kickUrl: kick.url,
      pusherUrl: "off",
      clientId: "doctor-client",
      clientSecret: SECRET,
      dataDir: join(dataDir, "data"),
      httpPort: freePort(),
      databaseUrl: direct.toString(),
    }, { KICK_PUSHER_URL: "off", LOG_LEVEL: "error" });
    const env = { ...base, KICK_WEBHOOK_LISTEN: `127.0.0.1:${webhookPort}` };
    const doctor = async (extra: Record<string, string>) => {
      const result = await runCli(["--env-file", envFile, "doctor", "--json"], {
        ...env,
        ...extra,
      });
      try {
        return { code: result.code, report: JSON.parse(result.stdout) as DoctorReport };
      } catch {
        throw new Error(`doctor --json printed no report:\n${result.stdout}\n${result.stderr}`);
      }
    };
    let service: ReturnType<typeof spawnCli> | null = null;
    const sender = startFakeWebhookSender({
      world,
      targetUrl: `${receiverUrl}/kick/webhook`,
      privateKey: key.privateKey,
    });
    try {
      // Webhooks off: no webhook line at all.
      const off = await runCli(["--env-file", envFile, "doctor", "--json"], base);
      assert.deepEqual(lines(JSON.parse(off.stdout)), {});

      assert.equal((await runCli(["db", "migrate"], env)).code, 0);
      assert.equal((await runCli(["streamers", "add", "xqc"], env)).code, 0);
      // No daemon, no public URL: the key loads, nothing is subscribed yet, the rest is skipped.
      const before = await doctor({});
      assert.deepEqual(lines(before.report), {
        webhook_key: "ok",
        webhook_receiver: "skipped",
        webhook_subscriptions: "warning",
        webhook_deliveries: "skipped",
      });
      assert.equal(before.code, 0);
      assert.match(detail(before.report, "webhook_key"), /fetched/);
      assert.match(detail(before.report, "webhook_receiver"), /KICK_WEBHOOK_PUBLIC_URL is unset/);

      service = spawnCli(["service", "start"], env);
      await waitFor(
        "the daemon to subscribe",
        () => Promise.resolve(kick.subscriptions.subscriptions.length >= 2),
        20_000,
        100,
      );
      world.goLive("xqc");
      await sender.settled();
      assert.equal(sender.deliveries[0]?.status, 200, JSON.stringify(sender.deliveries));
      // The status file is written every few seconds: wait until doctor sees the delivery.
      let running = await doctor({ KICK_WEBHOOK_PUBLIC_URL: receiverUrl });
      await waitFor(
        "doctor to read the delivery",
        async () => {
          running = await doctor({ KICK_WEBHOOK_PUBLIC_URL: receiverUrl });
          return /Last delivery accepted/.test(detail(running.report, "webhook_deliveries"));
        },
        20_000,
        500,
      );
      assert.deepEqual(lines(running.report), {
        webhook_key: "ok",
        webhook_receiver: "ok",
        webhook_subscriptions: "ok",
        webhook_deliveries: "ok",
      });
      assert.match(detail(running.report, "webhook_receiver"), /refuses a bad signature with 401/);
      assert.match(detail(running.report, "webhook_subscriptions"), /for 1 broadcaster/);

      // A public URL that is not the receiver: refused with the reason.
      const wrong = await doctor({ KICK_WEBHOOK_PUBLIC_URL: `${receiverUrl}/elsewhere` });
      assert.equal(
        wrong.report.checks.find((c) => c.name === "webhook_receiver")?.status,
        "failed",
      );
      assert.equal(wrong.code, 1);
    } finally {
      if (service !== null) {
        service.child.kill("SIGTERM");
        await service.output();
      }
      await sender.close();
      await kick.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
