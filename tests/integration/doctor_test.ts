/**
 * `kick-monitor doctor`, the real CLI in a subprocess, against the simulated Kick and Pusher and an embedded
 * database in a temporary data directory.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, startFakeKick } from "../../src/sim/kick.ts";
import { type FakePusher, startFakePusher } from "../../src/sim/pusher.ts";
import type { DoctorReport } from "../../src/doctor/checklist.ts";
import { type CliResult, freePort, runCli } from "../helpers/cli.ts";

const CLIENT_ID = "doctor-client";
const SECRET = "doctor-client-secret-5d2e8b";

interface Harness {
  world: FakeWorld;
  kick: FakeKick;
  pusher: FakePusher;
  dataDir: string;
  /** `--env-file` of an empty file, so a developer's ./.env never leaks in. */
  envFileArgs: string[];
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

async function setUp(): Promise<Harness> {
  const world = new FakeWorld();
  world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668, chatroomId: 668 });
  const kick = await startFakeKick({ world, clientId: CLIENT_ID, clientSecret: SECRET });
  const pusher = await startFakePusher({ world });
  const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-doctor-" });
  const envFile = join(dataDir, "empty.env");
  await Deno.writeTextFile(envFile, "");
  const env = {
    // Empty counts as unset: the embedded database, whatever the parent environment says.
    DATABASE_URL: "",
    KICK_CLIENT_ID: CLIENT_ID,
    KICK_CLIENT_SECRET: SECRET,
    KICK_OAUTH_URL: kick.url,
    KICK_API_URL: kick.url,
    KICK_WEB_URL: kick.url,
    KICK_PUSHER_URL: pusher.url,
    KICK_MONITOR_DATA_DIR: join(dataDir, "data"),
    KICK_API_RATE: "50",
    KICK_MONITOR_HTTP: "off",
    LOG_LEVEL: "warn",
    LOG_FORMAT: "json",
  };
  return {
    world,
    kick,
    pusher,
    dataDir,
    envFileArgs: ["--env-file", envFile],
    env,
    async cleanup() {
      await pusher.close();
      await kick.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

async function withHarness(test: (h: Harness) => Promise<void>): Promise<void> {
  const harness = await setUp();
  try {
    await test(harness);
  } finally {
    await harness.cleanup();
  }
}

async function migrate(h: Harness): Promise<void> {
  const result = await runCli([...h.envFileArgs, "db", "migrate"], h.env);
  assert.equal(result.code, 0, result.stderr);
}

async function doctorJson(
  h: Harness,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<{ result: CliResult; report: DoctorReport }> {
  const result = await runCli([...h.envFileArgs, "doctor", "--json", ...args], {
    ...h.env,
    ...env,
  });
  let report: DoctorReport;
  try {
    report = JSON.parse(result.stdout);
  } catch {
    assert.fail(
      `doctor --json did not print one JSON document:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return { result, report };
}

function statuses(report: DoctorReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((check) => [check.name, check.status]));
}

function check(report: DoctorReport, name: string) {
  const found = report.checks.find((c) => c.name === name);
  assert.ok(found, `no check named ${name}`);
  return found;
}

Deno.test("doctor against the simulated Kick: every line ok, exit 0, in JSON and text", async () => {
  await withHarness(async (h) => {
    await migrate(h);
    const { result, report } = await doctorJson(h);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.deepEqual(statuses(report), {
      config: "ok",
      database: "ok",
      oauth_token: "ok",
      api_channels: "ok",
      legacy_lookup: "ok",
      pusher: "ok",
      clock: "ok",
    });
    assert.deepEqual(report.summary, { ok: 7, warning: 0, failed: 0, skipped: 0, exit_code: 0 });
    for (const line of report.checks) {
      assert.equal(line.fix, null);
      assert.equal(typeof line.detail, "string");
    }
    assert.match(check(report, "oauth_token").detail, /60 days \(expires_in 5184000 s\)/);
    assert.match(check(report, "api_channels").detail, /broadcaster user id 676/);
    assert.match(check(report, "legacy_lookup").detail, /channel id 668/);
    assert.match(check(report, "pusher").detail, /subscribed to channel\.668 \(xqc's channel id/);
    // The Pusher line really did the protocol: subscribe, then ping.
    const events = h.pusher.received.map((frame) => frame.event);
    assert.deepEqual(events, ["pusher:subscribe", "pusher:ping"]);
    // Doctor asked Kick a handful of questions, no more.
    assert.ok(h.kick.stats.requests <= 4, `${h.kick.stats.requests} requests`);

    // The text form: one line per check, then the summary.
    const text = await runCli([...h.envFileArgs, "doctor", "--slug", "XQC"], h.env);
    assert.equal(text.code, 0, text.stderr);
    for (
      const title of ["Configuration", "Database", "OAuth app token", "Pusher socket", "Clock"]
    ) {
      assert.match(text.stdout, new RegExp(`^ok +${title} `, "m"));
    }
    assert.match(text.stdout, /7 ok, 0 warning\(s\), 0 failed, 0 skipped/);
  });
});

Deno.test("doctor reports pending migrations as a warning and writes nothing", async () => {
  await withHarness(async (h) => {
    // No database yet: doctor does not create one.
    const first = await doctorJson(h);
    assert.equal(first.result.code, 0, first.result.stderr);
    assert.equal(check(first.report, "database").status, "warning");
    assert.match(check(first.report, "database").fix ?? "", /db migrate/);
    await assert.rejects(Deno.stat(join(h.env.KICK_MONITOR_DATA_DIR, "pgdata")));
  });
});

Deno.test("doctor with a wrong secret: the token line fails clearly, exit 78", async () => {
  await withHarness(async (h) => {
    await migrate(h);
    const wrong = "not-the-right-secret-1234";
    const { result, report } = await doctorJson(h, { KICK_CLIENT_SECRET: wrong });
    assert.equal(result.code, 78, `${result.stdout}\n${result.stderr}`);
    const token = check(report, "oauth_token");
    assert.equal(token.status, "failed");
    assert.match(token.detail, /Kick rejected the client credentials/);
    assert.match(token.detail, /KICK_CLIENT_SECRET/);
    assert.match(token.fix ?? "", /kick\.com\/settings\/developer/);
    // What needs the token is skipped; what does not still runs.
    assert.equal(check(report, "api_channels").status, "skipped");
    assert.equal(check(report, "database").status, "ok");
    assert.equal(check(report, "pusher").status, "ok");
    assert.equal(report.summary.exit_code, 78);
    assert.match(result.stderr, /doctor: 1 check failed: oauth_token/);
    assert.ok(!result.stdout.includes(wrong) && !result.stderr.includes(wrong));
  });
});

Deno.test("doctor with the Pusher URL on a closed port: the Pusher line fails, exit 69", async () => {
  await withHarness(async (h) => {
    await migrate(h);
    const closed = `ws://127.0.0.1:${freePort()}/app/32cbd69e4b950bf97679?protocol=7`;
    const { result, report } = await doctorJson(h, { KICK_PUSHER_URL: closed });
    assert.equal(result.code, 69, `${result.stdout}\n${result.stderr}`);
    const pusher = check(report, "pusher");
    assert.equal(pusher.status, "failed");
    assert.match(pusher.detail, /connect failed: Cannot connect to ws:\/\/127\.0\.0\.1:\d+/);
    assert.match(pusher.fix ?? "", /KICK_PUSHER_URL/);
    for (const name of ["config", "database", "oauth_token", "api_channels", "legacy_lookup"]) {
      assert.equal(check(report, name).status, "ok", name);
    }
  });
});

Deno.test("doctor with an invalid configuration: the config line fails, the rest is skipped, exit 78", async () => {
  await withHarness(async (h) => {
    const { result, report } = await doctorJson(h, { KICK_API_URL: "not a url" });
    assert.equal(result.code, 78, `${result.stdout}\n${result.stderr}`);
    assert.equal(check(report, "config").status, "failed");
    assert.match(
      check(report, "config").detail,
      /KICK_API_URL="not a url": expected an http\(s\) URL/,
    );
    for (const line of report.checks.slice(1)) assert.equal(line.status, "skipped", line.name);
    assert.equal(h.kick.stats.requests, 0);
  });
});

Deno.test("doctor with a bad --slug is a usage error", async () => {
  await withHarness(async (h) => {
    const result = await runCli([...h.envFileArgs, "doctor", "--slug", "no spaces!"], h.env);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Slug "no spaces!"/);
  });
});
