/**
 * `notify add | list | test | log | remove` through the real CLI in a subprocess, on the embedded database,
 * against the fakes on loopback: `notify test` exits 0 when delivered, 69 when unreachable, 1 when refused;
 * bad input exits 2 with a clear message; and no secret appears in any output.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { CliResult } from "../helpers/cli.ts";
import { freePort } from "../helpers/cli.ts";
import { isolatedCliEnv, runCliWithin as runCli } from "../helpers/isolated_cli.ts";
import {
  startFakeApprise,
  startFakeDiscord,
  startFakeNtfy,
  startFakeSlack,
  startFakeTelegram,
  startFakeWebhookReceiver,
} from "../fakes/notification_services.ts";
import { openStore } from "../../src/store/store.ts";

const DISCORD_TOKEN = "e2e-discord-token_ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const BOT_TOKEN = "987654321:AAH-e2e-bot-token_abcdefghij";
const NTFY_PASSWORD = "ntfy-e2e-password";
const SLACK_SECRET = "e2eSlackSecretValue1234";
const WHSEC = `whsec_${btoa("e2e-webhook-signing-secret-0123")}`;
const APPRISE_KEY = "e2e-apprise-key";
const SECRETS = [
  DISCORD_TOKEN,
  BOT_TOKEN,
  BOT_TOKEN.split(":")[1],
  NTFY_PASSWORD,
  SLACK_SECRET,
  WHSEC,
  APPRISE_KEY,
];

Deno.test("notify through the real CLI against the fakes", async () => {
  const discord = await startFakeDiscord({ limit: 100, windowMs: 1000 });
  discord.addWebhook("10", DISCORD_TOKEN);
  discord.addWebhook("11", DISCORD_TOKEN);
  discord.deleteWebhook("11");
  const telegram = await startFakeTelegram(BOT_TOKEN, ["-100777"]);
  const ntfy = await startFakeNtfy({ user: "kick", password: NTFY_PASSWORD });
  const slack = await startFakeSlack(`/services/T1/B2/${SLACK_SECRET}`);
  const receiver = await startFakeWebhookReceiver(WHSEC);
  const apprise = await startFakeApprise([APPRISE_KEY]);
  const { dir, env } = await isolatedCliEnv();
  const outputs: CliResult[] = [];
  const cli = async (...args: string[]): Promise<CliResult> => {
    const result = await runCli(args, env, { limitMs: 60_000 });
    outputs.push(result);
    return result;
  };
  try {
    // A monitored streamer, written straight into the embedded database before any CLI runs.
    const store = await openStore({ dataDir: join(dir, "data") });
    await store.migrate();
    await store.addStreamers([{ slug: "xqc", broadcasterUserId: 1 }]);
    await store.close();

    const added: [string, string, ...string[]][] = [
      [
        "discord",
        discord.webhookUrl("10", DISCORD_TOKEN),
        "--kind",
        "discord",
        "--streamers",
        "xqc",
        "--mention",
        "<@&42>",
      ],
      ["telegram", `${telegram.origin}/${BOT_TOKEN}/-100777`, "--kind", "telegram"],
      ["ntfy", `ntfy://kick:${NTFY_PASSWORD}@127.0.0.1:${ntfy.port}/alerts`],
      ["slack", `${slack.origin}${slack.path}`, "--kind", "slack"],
      ["hook", `json://127.0.0.1:${receiver.port}/hook`, "--secret", WHSEC],
      ["apprise", `apprise://127.0.0.1:${apprise.port}/${APPRISE_KEY}`],
      [
        "closed",
        `http://127.0.0.1:${freePort()}/api/webhooks/12/${DISCORD_TOKEN}`,
        "--kind",
        "discord",
      ],
      [
        "deleted",
        discord.webhookUrl("11", DISCORD_TOKEN),
        "--kind",
        "discord",
        "--quiet-hours",
        "22:00-07:00",
        "--timezone",
        "Europe/Berlin",
      ],
    ];
    for (const [name, url, ...flags] of added) {
      const result = await cli("notify", "add", name, url, ...flags);
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
    }

    for (const name of ["discord", "telegram", "ntfy", "slack", "hook", "apprise"]) {
      const result = await cli("notify", "test", name);
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.match(result.stdout, /Delivered a test message/);
    }
    assert.equal(discord.messages.size, 1);
    assert.equal(telegram.messages.size, 1);
    assert.equal(ntfy.published.length, 1);
    assert.equal(slack.posted.length, 1);
    assert.equal(receiver.verified.length, 1);
    assert.equal(apprise.notified.length, 1);

    const closed = await cli("notify", "test", "closed");
    assert.equal(closed.code, 69, closed.stderr);
    const deleted = await cli("notify", "test", "deleted");
    assert.equal(deleted.code, 1, deleted.stderr);
    assert.match(deleted.stderr, /Unknown Webhook/);

    const list = await cli("notify", "list", "--json");
    assert.equal(list.code, 0, list.stderr);
    const targets = JSON.parse(list.stdout) as Record<string, unknown>[];
    assert.equal(targets.length, 8);
    const byName = new Map(targets.map((t) => [t.name, t]));
    assert.deepEqual(byName.get("discord")?.streamers, ["xqc"]);
    assert.equal(byName.get("hook")?.secret, "***");
    assert.equal(byName.get("deleted")?.quiet_hours, "22:00-07:00");
    assert.match(
      String(byName.get("ntfy")?.url),
      /^ntfy:\/\/kick:\*\*\*@127\.0\.0\.1:\d+\/alerts$/,
    );
    const table = await cli("notify", "list");
    assert.equal(table.code, 0);

    const log = await cli("notify", "log", "--json");
    assert.equal(log.code, 0, log.stderr);
    const deliveries = JSON.parse(log.stdout) as Record<string, unknown>[];
    assert.equal(deliveries.length, 8);
    assert.deepEqual(Object.keys(deliveries[0]).sort(), [
      "attempts",
      "delivered_at",
      "event_id",
      "id",
      "kind",
      "last_error",
      "latency_ms",
      "message_ref",
      "slug",
      "state",
      "target",
    ]);
    assert.equal(deliveries[0].target, "deleted");
    assert.equal(deliveries[0].state, "failed");
    const discordRow = deliveries.find((d) => d.target === "discord")!;
    assert.equal(discordRow.state, "delivered");
    assert.equal(discordRow.kind, "test");
    assert.match(String(discordRow.message_ref), /^\d+$/);
    assert.equal(typeof discordRow.latency_ms, "number");
    const one = await cli("notify", "log", "--target", "telegram", "--limit", "5");
    assert.equal(one.code, 0);
    assert.match(one.stdout, /telegram/);
    assert.match(one.stdout, /LATENCY/);

    const bad: [string[], RegExp][] = [
      [["notify", "add", "x", "foo://bar"], /Unknown notification URL scheme/],
      [
        ["notify", "add", "x", "https://discord.com/api/webhooks/abc"],
        /Malformed Discord webhook URL/,
      ],
      [[
        "notify",
        "add",
        "x",
        "console://",
        "--quiet-hours",
        "22:00-07:00",
        "--timezone",
        "Moon/Base",
      ], /IANA time zone/],
      [
        ["notify", "add", "x", "console://", "--template-online", "{slug} {game}"],
        /unknown field "\{game\}"/,
      ],
      [["notify", "add", "x", "console://", "--streamers", "nobody"], /"nobody", not monitored/],
      [["notify", "add", "x", `json://127.0.0.1:1/h`], /needs --secret whsec_/],
      [["notify", "add", "x", "console://", "--events", "online,raid"], /--events must list/],
      [["notify", "add", "discord", "console://"], /already exists/],
    ];
    for (const [args, pattern] of bad) {
      const result = await cli(...args);
      assert.ok(result.code === 2 || result.code === 1, `${args.join(" ")}: ${result.code}`);
      assert.match(result.stderr, pattern);
    }
    assert.equal(outputs.at(-1)!.code, 1); // a taken name is not a usage error

    const removed = await cli("notify", "remove", "closed");
    assert.equal(removed.code, 0);
    assert.equal((await cli("notify", "remove", "closed")).code, 1);

    for (const result of outputs) {
      for (const secret of SECRETS) {
        assert.ok(!result.stdout.includes(secret), `secret in stdout: ${result.stdout}`);
        assert.ok(!result.stderr.includes(secret), `secret in stderr: ${result.stderr}`);
      }
    }
  } finally {
    await Promise.all([
      discord.close(),
      telegram.close(),
      ntfy.close(),
      slack.close(),
      receiver.close(),
      apprise.close(),
    ]);
    await Deno.remove(dir, { recursive: true });
  }
});
