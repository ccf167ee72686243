/**
 * Operator safety (issue 11), on the real CLI in a subprocess against the simulated Kick: no terminal
 * injection from stream titles, long work shows progress and keeps what it did when interrupted, configuration
 * that validates is usable, `--json` always answers, status tells the truth, the demo is a sandbox, and the
 * smaller mistakes (limits, dates, unknown streamers, removal, channel ids) are caught. Cases that need a
 * database run on PostgreSQL when TEST_DATABASE_URL is set.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, startFakeKick } from "../../src/sim/kick.ts";
import { type CliResult, freePort, runCli, waitFor } from "../helpers/cli.ts";
import { tryLockFile } from "../../src/lib/file_lock.ts";
import { STATUS_FILE } from "../../src/monitor/monitor_status.ts";
import { MONITOR_LOCK_FILE } from "../../src/resources.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const SECRET = "safety-test-secret-7c2e";
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Deno's cache, so the subprocesses reuse the modules already downloaded whatever HOME says. */
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  join(Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache"), "deno");

/** An environment with nothing inherited, so a developer's own .env or variables cannot change the outcome. */
async function isolatedEnv(extra: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-safety-" });
  return {
    dir,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: dir,
      DENO_DIR,
      KICK_MONITOR_DATA_DIR: join(dir, "data"),
      LOG_FORMAT: "json",
      LOG_LEVEL: "warn",
      ...extra,
    },
  };
}

/** A fresh PostgreSQL database for one test. */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = postgres(TEST_DATABASE_URL!, { onnotice: () => {} });
  const name = `kick_safety_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

interface KickHarness {
  kick: FakeKick;
  world: FakeWorld;
  env: Record<string, string>;
  dir: string;
  cli(args: string[], extra?: Record<string, string>): Promise<CliResult>;
  cleanup(): Promise<void>;
}

async function kickHarness(
  slugs: string[],
  extra: Record<string, string> = {},
): Promise<KickHarness> {
  const world = new FakeWorld();
  for (const slug of slugs) world.addStreamer(slug);
  const kick = await startFakeKick({ world, clientId: "safety-client", clientSecret: SECRET });
  const database = await freshDatabase();
  const { dir, env } = await isolatedEnv({
    DATABASE_URL: database.url,
    KICK_CLIENT_ID: "safety-client",
    KICK_CLIENT_SECRET: SECRET,
    KICK_OAUTH_URL: kick.url,
    KICK_API_URL: kick.url,
    KICK_WEB_URL: kick.url,
    KICK_API_RATE: "100",
    KICK_MONITOR_HTTP: "off",
    ...extra,
  });
  return {
    kick,
    world,
    env,
    dir,
    cli: (args, more = {}) => runCli(args, { ...env, ...more }),
    async cleanup() {
      await kick.close();
      await database.drop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const ESC = "\x1b";
const EVIL_TITLE = `pwn${ESC}]0;owned${"\x07"}${ESC}[2J\u202eevil\u2066\x9b`;

function assertNoControls(text: string, what: string): void {
  // Newlines end lines; nothing else below U+0020 (nor DEL, C1 or a bidi control) may reach the terminal.
  const bad =
    // deno-lint-ignore no-control-regex -- looking for control characters is the point
    /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
  assert.doesNotMatch(text, bad, `${what} prints a control character: ${JSON.stringify(text)}`);
}

Deno.test({
  name: "terminal injection: titles are escaped in human output and exact in --json",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const h = await kickHarness(["xqc"]);
    try {
      assert.equal((await h.cli(["streamers", "add", "xqc"])).code, 0);
      assert.equal((await h.cli(["check"])).code, 0, "the first check only learns a baseline");
      h.world.goLive("xqc", { title: EVIL_TITLE, category: `IRL${ESC}[31m` });
      const checked = await h.cli(["check"]);
      assert.equal(checked.code, 0, checked.stderr);

      for (
        const args of [["events", "list"], ["streamers", "list"], ["streamers", "history", "xqc"], [
          "streamers",
          "test",
          "xqc",
        ]]
      ) {
        const result = await h.cli(args);
        assert.equal(result.code, 0, result.stderr);
        assertNoControls(result.stdout, args.join(" "));
        assert.match(result.stdout, /pwn\\x1b\]0;owned\\x07\\x1b\[2J\\u202eevil\\u2066\\x9b/);
      }
      const json = await h.cli(["events", "list", "--json"]);
      assert.equal(JSON.parse(json.stdout)[0].title, EVIL_TITLE, "--json keeps the exact title");
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test("--json: a failure is one error document on stdout, with the code and no secret", async () => {
  const { dir, env } = await isolatedEnv();
  try {
    const config = await runCli(["streamers", "list", "--json"], {
      ...env,
      KICK_API_BATCH_SIZE: "500",
    });
    assert.equal(config.code, 78, config.stderr);
    const configDoc = JSON.parse(config.stdout);
    assert.equal(configDoc.error.exit_code, 78);
    assert.equal(configDoc.error.kind, "config");
    assert.match(configDoc.error.message, /KICK_API_BATCH_SIZE/);
    assert.match(config.stderr, /KICK_API_BATCH_SIZE/, "the reason is still on stderr");

    const usage = await runCli(["events", "list", "--json", "--limit", "0"], env);
    assert.equal(usage.code, 2, usage.stderr);
    assert.deepEqual(JSON.parse(usage.stdout).error.kind, "usage");

    const badTypes = await runCli(["events", "list", "--json", "--types", "online,live"], env);
    assert.equal(badTypes.code, 2, badTypes.stderr);
    assert.match(
      JSON.parse(badTypes.stdout).error.message,
      /--types: unknown event type "live"; expected online, offline or title/,
    );

    const unknownFlag = await runCli(["streamers", "list", "--json", "--bogus"], env);
    assert.equal(unknownFlag.code, 2, unknownFlag.stderr);
    assert.match(JSON.parse(unknownFlag.stdout).error.message, /bogus/);

    const port = freePort();
    const unreachable = await runCli(["db", "health", "--json"], {
      ...env,
      DATABASE_URL: `postgres://kick:hunter2secret@127.0.0.1:${port}/nowhere`,
    });
    assert.equal(unreachable.code, 69, unreachable.stderr);
    const doc = JSON.parse(unreachable.stdout);
    assert.deepEqual(Object.keys(doc), ["error"]);
    assert.equal(doc.error.kind, "unavailable");
    assert.equal(doc.error.exit_code, 69);
    assert.ok(!unreachable.stdout.includes("hunter2secret"), "the password is not printed");

    const plain = await runCli(["events", "list", "--limit", "0"], env);
    assert.equal(plain.stdout, "", "without --json nothing goes to stdout");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "streamers remove refuses without --yes off a terminal, and keeps the history",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const h = await kickHarness(["xqc", "alpha"]);
    try {
      assert.equal((await h.cli(["streamers", "add", "xqc", "alpha"])).code, 0);
      const refused = await h.cli(["streamers", "remove", "xqc"]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /delete the recorded history of xqc/);
      assert.match(refused.stderr, /--yes/);
      const list = JSON.parse((await h.cli(["streamers", "list", "--json"])).stdout);
      assert.equal(list.length, 2, "nothing was removed");

      const missing = await h.cli(["streamers", "remove", "nobody"]);
      assert.equal(missing.code, 0, "nothing to delete needs no confirmation");
      assert.match(missing.stdout, /nobody: was not monitored/);

      const removed = await h.cli(["streamers", "remove", "xqc", "--yes"]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.match(removed.stdout, /xqc: removed/);
      const after = JSON.parse((await h.cli(["streamers", "list", "--json"])).stdout);
      assert.deepEqual(after.map((s: { slug: string }) => s.slug), ["alpha"]);
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test({
  name: "an unmonitored streamer: events list --streamer and streamers history both exit 1",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const h = await kickHarness(["xqc"]);
    try {
      for (
        const args of [["events", "list", "--streamer", "nobody"], [
          "streamers",
          "history",
          "nobody",
        ]]
      ) {
        const result = await h.cli(args);
        assert.equal(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, /No streamer named "nobody" is monitored/);
      }
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test({
  name:
    "--channel-id: the user id is refused, a live stream's real id wins, a duplicate is refused",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const h = await kickHarness([]);
    try {
      h.world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668 });
      h.world.addStreamer("alpha", { broadcasterUserId: 1000, channelId: 2000 });
      h.world.addStreamer("beta", { broadcasterUserId: 3000, channelId: 4000 });

      const userId = await h.cli(["streamers", "add", "xqc", "--channel-id", "676"]);
      assert.equal(userId.code, 2, userId.stderr);
      assert.match(userId.stderr, /676 is xqc's broadcaster user id, not its Pusher channel id/);

      h.world.goLive("xqc", { title: "live" });
      const corrected = await h.cli(["streamers", "add", "xqc", "--channel-id", "676"]);
      assert.equal(corrected.code, 0, corrected.stderr);
      assert.match(corrected.stdout, /live-streams list says 668, which is used instead/);
      assert.match(corrected.stdout, /xqc: added \(user 676, pusher channel 668\)/);

      const offline = await h.cli(["streamers", "add", "alpha", "--channel-id", "2000"]);
      assert.equal(offline.code, 0, offline.stderr);
      const duplicate = await h.cli(["streamers", "add", "beta", "--channel-id", "2000"]);
      assert.equal(duplicate.code, 2, duplicate.stderr);
      assert.match(duplicate.stderr, /Channel id 2000 already belongs to alpha/);
      const slugs = JSON.parse((await h.cli(["streamers", "list", "--json"])).stdout)
        .map((s: { slug: string; channel_id: number }) => `${s.slug}:${s.channel_id}`).sort();
      assert.deepEqual(slugs, ["alpha:2000", "xqc:668"]);
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test({
  name: "streamers test says the user id is not the channel id, and shows the channel id when live",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    // The website API is unreachable, as behind Cloudflare: only the live-streams list knows the id.
    const h = await kickHarness([], { KICK_WEB_URL: `http://127.0.0.1:${freePort()}` });
    try {
      h.world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668 });
      const offline = await h.cli(["streamers", "test", "xqc"]);
      assert.equal(offline.code, 0, offline.stderr);
      assert.match(offline.stdout, /Broadcaster user id: 676 \(.*NOT the Pusher channel id\)/);
      assert.match(offline.stdout, /Pusher channel id:\s+unknown \(Kick shows it only while live/);

      h.world.goLive("xqc", { title: "hi" });
      const live = await h.cli(["streamers", "test", "xqc"]);
      assert.equal(live.code, 0, live.stderr);
      assert.match(live.stdout, /Pusher channel id:\s+668 \(from Kick's live-streams list\)/);
      const json = JSON.parse((await h.cli(["streamers", "test", "xqc", "--json"])).stdout);
      assert.equal(json.channel_id, 668);
      assert.equal(json.broadcaster_user_id, 676);
      assert.equal(json.channel_id_source, "livestreams");
    } finally {
      await h.cleanup();
    }
  },
});

/** Reads a child's stdout as it comes, line by line. */
function collectLines(
  stream: ReadableStream<Uint8Array>,
): { lines: string[]; done: Promise<void> } {
  const lines: string[] = [];
  const done = (async () => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      lines.push(...parts);
    }
    if (buffer) lines.push(buffer);
  })();
  return { lines, done };
}

Deno.test({
  name:
    "streamers add prints each batch as it is stored; Ctrl-C keeps what was stored and exits 130",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const slugs = Array.from({ length: 60 }, (_, i) => `slow_${i}`);
    // 10 slugs a batch and 10 requests a second: each batch takes about a second of website lookups.
    const h = await kickHarness(slugs, { KICK_API_RATE: "10", KICK_API_BATCH_SIZE: "10" });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "streamers", "add", ...slugs],
        env: h.env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out = collectLines(child.stdout);
      const err = new Response(child.stderr).text();
      await waitFor("the first batch", () => out.lines.length >= 10, 30_000);
      const firstBatch = out.lines.slice(0, 10);
      assert.ok(firstBatch.every((l) => /^slow_\d+: added/.test(l)), firstBatch.join("\n"));
      child.kill("SIGINT");
      const status = await child.status;
      await out.done;
      const stderr = await err;
      assert.equal(status.code, 130, stderr);
      assert.match(
        stderr,
        /Interrupted: (\d+) streamer\(s\) stored, (\d+) of 60 slug\(s\) not looked up/,
      );
      assert.doesNotMatch(stderr, /\r/, "no progress line when stderr is not a terminal");
      const [, storedText, leftText] = /(\d+) streamer\(s\) stored, (\d+) of 60/.exec(stderr)!;
      assert.ok(Number(leftText) > 0);
      const list = JSON.parse((await h.cli(["streamers", "list", "--json"])).stdout);
      assert.equal(list.length, Number(storedText), "every stored streamer is kept");
      assert.equal(list.length, out.lines.length, "every printed line was stored");
      assert.equal(list.length + Number(leftText), 60);
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test("config validate: empty credentials are not 'valid'; it says which commands need them", async () => {
  const { dir, env } = await isolatedEnv();
  try {
    const init = await runCli(["config", "init"], env, { cwd: dir });
    assert.equal(init.code, 0, init.stderr);
    const result = await runCli(["config", "validate"], env, { cwd: dir });
    assert.equal(result.code, 78, result.stderr);
    assert.doesNotMatch(result.stdout, /valid/i);
    assert.match(result.stderr, /KICK_CLIENT_ID is empty: streamers add, .*check.* need it/);
    assert.match(result.stderr, /KICK_CLIENT_SECRET is empty/);

    const json = await runCli(["config", "validate", "--json"], env, { cwd: dir });
    assert.equal(JSON.parse(json.stdout).error.kind, "config");

    const good = await runCli(["config", "validate"], {
      ...env,
      KICK_CLIENT_ID: "id",
      KICK_CLIENT_SECRET: "secret",
    }, { cwd: dir });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /Configuration is valid/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a data directory that is a file, a device or /proc: exit 78 with a clear reason", async () => {
  const { dir, env } = await isolatedEnv({ KICK_CLIENT_ID: "id", KICK_CLIENT_SECRET: "secret" });
  try {
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "");
    const cases: [string, RegExp][] = [
      [file, /is a file, not a directory/],
      ["/dev/null", /is a device, not a directory/],
      ["/proc", /kernel pseudo-filesystem/],
    ];
    for (const [dataDir, reason] of cases) {
      const withDir = { ...env, KICK_MONITOR_DATA_DIR: dataDir };
      const validate = await runCli(["config", "validate"], withDir);
      assert.equal(validate.code, 78, `validate ${dataDir}: ${validate.stderr}`);
      assert.match(validate.stderr, reason);
      assert.match(validate.stderr, /KICK_MONITOR_DATA_DIR/);
      // A command that opens the embedded database there.
      const list = await runCli(["streamers", "list"], withDir);
      assert.equal(list.code, 78, `streamers list ${dataDir}: ${list.stderr}`);
      assert.match(list.stderr, reason);
      assert.doesNotMatch(list.stderr, /os error/);
    }
    const doctor = await runCli(["doctor", "--json"], {
      ...env,
      KICK_MONITOR_DATA_DIR: "/dev/null",
    });
    assert.equal(doctor.code, 78, doctor.stderr);
    const report = JSON.parse(doctor.stdout);
    const config = report.checks.find((c: { name: string }) => c.name === "config");
    assert.equal(config.status, "failed");
    assert.match(config.detail, /is a device, not a directory/);
    assert.equal(report.error, undefined, "doctor keeps its own JSON shape");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("service status: exit 3 when no monitor runs (text and --json); a database outage is shown", async () => {
  const { dir, env } = await isolatedEnv();
  const dataDir = join(dir, "data");
  try {
    const text = await runCli(["service", "status"], env);
    assert.equal(text.code, 3, text.stderr);
    assert.match(text.stdout, /Not running/);
    const json = await runCli(["service", "status", "--json"], env);
    assert.equal(json.code, 3, json.stderr);
    assert.equal(JSON.parse(json.stdout).running, false, "the report is printed all the same");

    // A monitor (this test, holding its lock) whose database is down, as its status file says.
    await Deno.mkdir(dataDir, { recursive: true });
    const lock = await tryLockFile(join(dataDir, MONITOR_LOCK_FILE));
    assert.ok(lock !== null);
    try {
      const now = new Date().toISOString();
      await Deno.writeTextFile(
        join(dataDir, STATUS_FILE),
        JSON.stringify({
          pid: Deno.pid,
          started_at: now,
          updated_at: now,
          streamers: 2,
          sockets_connected: 1,
          sockets_total: 1,
          subscribed_channels: 4,
          last_event_at: null,
          last_poll_at: now,
          last_poll_error: null,
          journal_backlog: 7,
          database_error: `connect ECONNREFUSED 127.0.0.1:5432${ESC}[2J`,
        }),
      );
      const running = await runCli(["service", "status"], env);
      assert.equal(running.code, 0, running.stderr);
      assert.match(running.stdout, /Running:\s+yes/);
      assert.match(
        running.stdout,
        /Database:\s+OUTAGE: connect ECONNREFUSED 127\.0\.0\.1:5432\\x1b\[2J/,
      );
      assertNoControls(running.stdout, "service status");
      const runningJson = await runCli(["service", "status", "--json"], env);
      assert.equal(runningJson.code, 0, runningJson.stderr);
      assert.match(JSON.parse(runningJson.stdout).database_error, /ECONNREFUSED/);
    } finally {
      lock.release();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "demo --port prints export lines that point another shell at its simulated Kick",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { dir, env } = await isolatedEnv();
    // Two consecutive free ports: Kick on N, Pusher on N+1.
    let port = freePort();
    for (let tries = 0; tries < 20; tries++) {
      try {
        Deno.listen({ hostname: "127.0.0.1", port: port + 1 }).close();
        break;
      } catch {
        port = freePort();
      }
    }
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "demo", "--port", String(port), "--seed", "1"],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = collectLines(child.stdout);
    const err = new Response(child.stderr).text();
    try {
      await waitFor(
        "the export lines",
        () => out.lines.some((l) => l.startsWith("export KICK_CLIENT_SECRET=")),
        60_000,
        100,
      );
      const exports = Object.fromEntries(
        out.lines.filter((l) => l.startsWith("export ")).map((l) => {
          const [, name, value] = /^export (\w+)='([^']*)'$/.exec(l)!;
          return [name, value];
        }),
      );
      assert.deepEqual(Object.keys(exports).sort(), [
        "KICK_API_URL",
        "KICK_CLIENT_ID",
        "KICK_CLIENT_SECRET",
        "KICK_OAUTH_URL",
        "KICK_PUSHER_URL",
        "KICK_WEB_URL",
      ]);
      assert.equal(exports.KICK_API_URL, `http://127.0.0.1:${port}`);
      assert.match(exports.KICK_PUSHER_URL, new RegExp(`^ws://127\\.0\\.0\\.1:${port + 1}/`));

      // A second shell with exactly those lines asks the demo's Kick.
      const second = await runCli(["streamers", "test", "xqc"], { ...env, ...exports });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /xqc \(found\)/);

      // The same port again while the demo runs: a clear error.
      const clash = await runCli(["demo", "--port", String(port)], env);
      assert.equal(clash.code, 1, clash.stderr);
      assert.match(clash.stderr, new RegExp(`Port ${port} .*already in use.*--port`));
    } finally {
      child.kill("SIGINT");
      const status = await child.status;
      await out.done;
      const stderr = await err;
      assert.equal(status.code, 0, stderr);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "check records chunk by chunk; Ctrl-C keeps the chunks checked and exits 130",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const slugs = Array.from({ length: 300 }, (_, i) => `chunk_${i}`);
    const h = await kickHarness(slugs, { KICK_API_RATE: "200", KICK_API_BATCH_SIZE: "50" });
    try {
      const added = await h.cli(["streamers", "add", ...slugs]);
      assert.equal(added.code, 0, added.stderr);
      // Two requests a second: each chunk of 100 streamers (4 requests of 25) takes about 2 s.
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "check"],
        env: { ...h.env, KICK_API_RATE: "2", KICK_API_BATCH_SIZE: "25" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out = collectLines(child.stdout);
      const err = new Response(child.stderr).text();
      await waitFor("the first chunk", () => out.lines.some((l) => / went /.test(l)), 30_000);
      child.kill("SIGINT");
      const status = await child.status;
      await out.done;
      const stderr = await err;
      assert.equal(status.code, 130, stderr);
      const match = /Interrupted: checked (\d+) of 300 streamer\(s\), recorded (\d+)/.exec(stderr);
      assert.ok(match, stderr);
      const checked = Number(match[1]);
      assert.ok(checked >= 100 && checked < 300, stderr);
      const list = JSON.parse((await h.cli(["streamers", "list", "--json"])).stdout) as {
        last_checked_at: string | null;
      }[];
      assert.equal(list.filter((s) => s.last_checked_at !== null).length, checked);
    } finally {
      await h.cleanup();
    }
  },
});

/** Runs the CLI on a pseudo-terminal (util-linux `script`), feeding `input`; returns what the terminal showed. */
async function onTerminal(
  args: string[],
  env: Record<string, string>,
  input = "",
): Promise<{ code: number; screen: string }> {
  const command = [Deno.execPath(), "run", "-A", MAIN, ...args]
    .map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qefc", command, "/dev/null"],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  // Typed once the prompt can be waiting for it.
  setTimeout(() => writer.write(new TextEncoder().encode(input)).then(() => writer.close()), 3_000);
  const output = await child.output();
  return { code: output.code, screen: new TextDecoder().decode(output.stdout) };
}

const HAVE_SCRIPT = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "on a terminal: streamers add shows a progress line, streamers remove asks first",
  ignore: !TEST_DATABASE_URL || !HAVE_SCRIPT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const slugs = Array.from({ length: 30 }, (_, i) => `tty_${i}`);
    const h = await kickHarness(slugs, { KICK_API_RATE: "20", KICK_API_BATCH_SIZE: "10" });
    try {
      const added = await onTerminal(["streamers", "add", ...slugs], h.env);
      assert.equal(added.code, 0, added.screen);
      assert.match(added.screen, /streamers add: 10\/30 \(33%\), [\d.]+\/s, about \d+ s left/);
      assert.ok(added.screen.includes(`\r${ESC}[K`), "the line is redrawn in place");

      const declined = await onTerminal(["streamers", "remove", "tty_0"], h.env, "n\n");
      assert.match(declined.screen, /Remove tty_0 and delete its history\?/);
      assert.equal(declined.code, 1, declined.screen);
      const accepted = await onTerminal(["streamers", "remove", "tty_0"], h.env, "y\n");
      assert.equal(accepted.code, 0, accepted.screen);
      assert.match(accepted.screen, /tty_0: removed/);
      const list = JSON.parse((await h.cli(["streamers", "list", "--json"])).stdout);
      assert.equal(list.length, 29);
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test({
  name: "streamers add: a failure after some batches keeps them and says how many were stored",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const slugs = Array.from({ length: 30 }, (_, i) => `part_${i}`);
    const h = await kickHarness(slugs, { KICK_API_RATE: "10", KICK_API_BATCH_SIZE: "10" });
    try {
      const running = h.cli(["streamers", "add", ...slugs]);
      // The second batch's request answers garbage: the first batch is stored by then.
      await waitFor(
        "the first batch request",
        () => h.kick.requestsTo("channels").length >= 1,
        30_000,
      );
      h.kick.injectFault("channels", { kind: "truncated-json" }, 5);
      const result = await running;
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /Unexpected response from Kick/);
      assert.match(result.stderr, /after 10 streamer\(s\) were stored; 20 slug\(s\) not looked up/);
      const list = JSON.parse((await h.cli(["streamers", "list", "--json"])).stdout);
      assert.equal(list.length, 10);
      assert.equal(result.stdout.trim().split("\n").length, 10, "the stored ones were printed");
    } finally {
      await h.cleanup();
    }
  },
});
