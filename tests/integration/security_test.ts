/**
 * Security hardening, checked from the outside:
 *
 * - secrets: every command and the daemon run with a known client secret, and the app tokens the fake Kick
 *   issues are recorded by a proxy in front of it; neither may appear in stdout, stderr (LOG_LEVEL=debug),
 *   /healthz, /metrics, the journal or an error message, also when the secret is wrong;
 * - HTTP binds loopback unless told otherwise;
 * - files the program creates are 0600 and directories 0700;
 * - a world-readable .env holding a secret draws a warning;
 * - every SQL statement is parameterised (a scan of src/ for string-built SQL);
 * - memory is bounded: the database writer's queue while the database is down, journal recovery, Pusher frames
 *   and HTTP response bodies (the last two: tests/unit/bad_input_test.ts).
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, startFakeKick } from "../../src/sim/kick.ts";
import { type FakePusher, startFakePusher } from "../../src/sim/pusher.ts";
import { gatherSettings, loadConfig } from "../../src/config.ts";
import { Journal, type JournalEntry } from "../../src/journal/journal.ts";
import { DatabaseWriter } from "../../src/journal/database_writer.ts";
import { configureLogging } from "../../src/lib/log.ts";
import type { Transition } from "../../src/domain/types.ts";
import { type CliResult, freePort, runCli, spawnCli, waitFor } from "../helpers/cli.ts";
import { simulatedKickEnv } from "../helpers/daemon_env.ts";

const CLIENT_ID = "security-client";
const SECRET = "kms-SECRET-9f8e7d6c5b4a3210";
const WRONG_SECRET = "kms-WRONG-0a1b2c3d4e5f6789";
const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL") || undefined;

configureLogging({ write: () => {} });

/** A proxy in front of the fake Kick that remembers every access token it hands out. */
function startTokenRecorder(
  target: string,
): { url: string; tokens: string[]; close(): Promise<void> } {
  const tokens: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const upstream = await fetch(`${target}${url.pathname}${url.search}`, {
      method: request.method,
      headers: request.headers,
      body: request.method === "GET" || request.method === "HEAD"
        ? undefined
        : await request.arrayBuffer(),
    });
    const body = await upstream.text();
    if (url.pathname === "/oauth/token") {
      try {
        const token = JSON.parse(body).access_token;
        if (typeof token === "string") tokens.push(token);
      } catch { /* not a token answer */ }
    }
    const headers = new Headers(upstream.headers);
    headers.delete("content-length");
    headers.delete("content-encoding");
    return new Response(body, { status: upstream.status, headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    tokens,
    close: () => server.shutdown(),
  };
}

interface Output {
  what: string;
  text: string;
}

function leaks(outputs: Output[], secrets: string[]): string[] {
  const found: string[] = [];
  for (const { what, text } of outputs) {
    for (const secret of secrets) {
      if (text.includes(secret)) found.push(`${what} contains ${secret.slice(0, 6)}…`);
    }
  }
  return found;
}

async function modesUnder(dir: string): Promise<string[]> {
  const wrong: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    const { mode } = await Deno.lstat(path);
    const wanted = entry.isDirectory ? 0o700 : 0o600;
    if (mode !== null && (mode & 0o777) !== wanted) {
      wrong.push(`${path} is ${(mode & 0o777).toString(8)}, expected ${wanted.toString(8)}`);
    }
    if (entry.isDirectory) wrong.push(...await modesUnder(path));
  }
  return wrong;
}

function nonLoopbackAddress(): string | null {
  try {
    const found = Deno.networkInterfaces().find((i) =>
      i.family === "IPv4" && !i.address.startsWith("127.")
    );
    return found?.address ?? null;
  } catch {
    return null;
  }
}

Deno.test({
  name:
    "security: no command or the daemon ever shows the client secret or a token; files are private; HTTP is loopback",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const world = new FakeWorld();
    world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668, chatroomId: 668 });
    world.addStreamer("alpha");
    const kick: FakeKick = await startFakeKick({
      world,
      clientId: CLIENT_ID,
      clientSecret: SECRET,
    });
    const recorder = startTokenRecorder(kick.url);
    const pusher: FakePusher = await startFakePusher({ world });
    const dir = await Deno.makeTempDir({ prefix: "kick-monitor-security-" });
    const dataDir = join(dir, "data");
    const envFile = join(dir, "empty.env");
    await Deno.writeTextFile(envFile, "");
    const httpPort = freePort();
    const env = simulatedKickEnv({
      kickUrl: recorder.url,
      pusherUrl: pusher.url,
      clientId: CLIENT_ID,
      clientSecret: SECRET,
      dataDir,
      httpPort,
    }, { LOG_LEVEL: "debug" });
    const outputs: Output[] = [];
    const cli = async (
      args: string[],
      extra: Record<string, string> = {},
    ): Promise<CliResult> => {
      const result = await runCli(["--env-file", envFile, ...args], { ...env, ...extra });
      const what = `${args.join(" ")}${
        Object.keys(extra).length ? " (" + Object.keys(extra) + ")" : ""
      }`;
      outputs.push({ what: `${what}: stdout`, text: result.stdout });
      outputs.push({ what: `${what}: stderr`, text: result.stderr });
      return result;
    };
    const expectOk = async (args: string[], extra: Record<string, string> = {}) => {
      const result = await cli(args, extra);
      assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
      return result;
    };

    try {
      await t.step("every command, at LOG_LEVEL=debug", async () => {
        await expectOk(["config", "show"]);
        await expectOk(["config", "show", "--json"]);
        await expectOk(["config", "validate"]);
        await expectOk(["db", "migrate"]);
        await expectOk(["db", "health"]);
        await expectOk(["db", "health", "--json"]);
        await expectOk(["streamers", "add", "xqc", "alpha"]);
        await expectOk(["streamers", "list"]);
        await expectOk(["streamers", "list", "--json"]);
        await expectOk(["streamers", "test", "xqc", "--json"]);
        await expectOk(["streamers", "history", "xqc"]);
        await expectOk(["check", "--json"]);
        await expectOk(["events", "list", "--json"]);
        // The doctor may warn about the simulated world; only what it prints matters here.
        await cli(["doctor", "--json"]);
        await cli(["doctor"]);
        // No monitor runs yet: exit 3 (LSB "not running"), the report printed all the same.
        assert.equal((await cli(["service", "status", "--json"])).code, 3);
      });

      await t.step("the daemon, its /healthz and /metrics, status and a clean stop", async () => {
        const service = spawnCli(["--env-file", envFile, "service", "start"], env);
        const base = `http://127.0.0.1:${httpPort}`;
        await waitFor(
          "the daemon to answer /healthz",
          async () => {
            try {
              const response = await fetch(`${base}/healthz`);
              await response.body?.cancel();
              return response.status === 200;
            } catch {
              return false;
            }
          },
          30_000,
          100,
        );
        // Healthy means a source works, not that Pusher has subscribed xqc yet; a go-live before that
        // reaches nobody, and the test's poll interval (600 s) would not find it (CI lost this race once).
        await waitFor(
          "the monitor to subscribe xqc's channels",
          () => pusher.subscribers("channel.668") > 0 && pusher.subscribers("channel_668") > 0,
          30_000,
          100,
        );
        world.goLive("xqc", { title: "secure stream" });
        await waitFor(
          "the live event to be committed",
          async () => {
            const metrics = await (await fetch(`${base}/metrics`)).text();
            return /kick_monitor_events_total\{[^}]*type="online"[^}]*\} [1-9]/.test(metrics);
          },
          10_000,
          100,
        );
        for (const path of ["/healthz", "/metrics", "/nonexistent"]) {
          const response = await fetch(`${base}${path}`);
          outputs.push({ what: `GET ${path}`, text: await response.text() });
        }
        const status = await expectOk(["service", "status", "--json"]);
        assert.equal(JSON.parse(status.stdout).running, true);

        // The listener is on loopback only: another address of this machine refuses the connection.
        const other = nonLoopbackAddress();
        if (other !== null) {
          const reached = await Deno.connect({ hostname: other, port: httpPort }).then(
            (connection) => {
              connection.close();
              return true;
            },
            () => false,
          );
          assert.equal(reached, false, `the HTTP listener answered on ${other}`);
        }

        service.child.kill("SIGTERM");
        const result = await service.output();
        outputs.push({ what: "service start: stdout", text: result.stdout });
        outputs.push({ what: "service start: stderr", text: result.stderr });
        assert.equal(result.code, 0, result.stderr.slice(-2_000));
        assert.match(result.stderr, /"level":"debug"/, "the daemon logged at debug level");
      });

      await t.step("after the run: files 0600, directories 0700", async () => {
        for (const name of ["journal.jsonl", "journal.cursor", "monitor.lock", "pgdata.lock"]) {
          await Deno.stat(join(dataDir, name));
        }
        assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
        assert.deepEqual(await modesUnder(dataDir), []);
        outputs.push({
          what: "journal.jsonl",
          text: await Deno.readTextFile(join(dataDir, "journal.jsonl")),
        });
      });

      await t.step("more commands after the run, then removal", async () => {
        await expectOk(["events", "list"]);
        await expectOk(["streamers", "remove", "alpha", "--yes"]);
        await cli(["service", "stop"]);
      });

      await t.step("a wrong secret: a clear error that shows neither secret", async () => {
        for (
          const args of [["streamers", "test", "xqc"], ["check"], ["streamers", "add", "alpha"]]
        ) {
          const result = await cli(args, { KICK_CLIENT_SECRET: WRONG_SECRET });
          assert.equal(result.code, 78, result.stderr);
          assert.match(result.stderr, /Kick rejected the client credentials/);
        }
        const doctor = await cli(["doctor"], { KICK_CLIENT_SECRET: WRONG_SECRET });
        assert.notEqual(doctor.code, 0);
      });

      if (TEST_DATABASE_URL !== undefined) {
        await t.step(
          "a database password: never shown, also when the server is unreachable",
          async () => {
            const withPassword = new URL(TEST_DATABASE_URL);
            withPassword.password = "kms-DBPASS-77aa88bb";
            // Trust authentication ignores the password, so this one connects.
            await expectOk(["db", "health"], { DATABASE_URL: withPassword.toString() });
            const unreachable = new URL(withPassword);
            unreachable.port = String(freePort());
            const failed = await cli(["db", "health"], { DATABASE_URL: unreachable.toString() });
            assert.equal(failed.code, 69, failed.stderr);
            // Named by its address, never by its user or password.
            assert.match(
              failed.stderr,
              new RegExp(`DATABASE_URL \\(127\\.0\\.0\\.1:${unreachable.port}\\)`),
            );
            assert.deepEqual(leaks(outputs, ["kms-DBPASS-77aa88bb"]), []);
          },
        );
      }

      assert.ok(recorder.tokens.length > 0, "the fake Kick issued tokens");
      assert.ok(recorder.tokens.every((token) => token.length >= 16));
      assert.deepEqual(leaks(outputs, [SECRET, WRONG_SECRET, ...recorder.tokens]), []);
      // The checks looked at real output.
      assert.ok(
        outputs.some((o) => o.what.startsWith("GET /metrics") && o.text.includes("kick_monitor")),
      );
      assert.ok(
        outputs.some((o) => o.text.includes('"KICK_CLIENT_SECRET"') || o.text.includes("***")),
      );
    } finally {
      await recorder.close();
      await pusher.close();
      await kick.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------------------------
// One redaction function at every boundary (issue 11, item 2).

const DB_PASSWORD = "kms-DBPASS-31c4d5e6";

/** An environment with nothing inherited but what the CLI needs; Kick is a closed local port. */
async function bareEnv(extra: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-redact-" });
  const nowhere = `http://127.0.0.1:${freePort()}`;
  const envFile = join(dir, "empty.env");
  await Deno.writeTextFile(envFile, "");
  return {
    dir,
    envFile,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? dir,
      KICK_MONITOR_DATA_DIR: join(dir, "data"),
      KICK_OAUTH_URL: nowhere,
      KICK_API_URL: nowhere,
      KICK_WEB_URL: nowhere,
      KICK_MONITOR_HTTP: "off",
      LOG_FORMAT: "json",
      LOG_LEVEL: "debug",
      ...extra,
    },
  };
}

Deno.test("security: config show and config validate never print DATABASE_URL's password", async () => {
  const { dir, envFile, env } = await bareEnv({
    DATABASE_URL: `postgres://kick:${DB_PASSWORD}@db.example:5432/kick?sslmode=require`,
    KICK_CLIENT_ID: CLIENT_ID,
    KICK_CLIENT_SECRET: SECRET,
  });
  try {
    const table = await runCli(["--env-file", envFile, "config", "show"], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /postgres:\/\/kick:\*\*\*@db\.example:5432\/kick\?sslmode=require/);
    const json = await runCli(["--env-file", envFile, "config", "show", "--json"], env);
    assert.equal(json.code, 0, json.stderr);
    const shown = JSON.parse(json.stdout);
    assert.equal(
      shown.DATABASE_URL.value,
      "postgres://kick:***@db.example:5432/kick?sslmode=require",
    );
    assert.equal(shown.KICK_CLIENT_SECRET.value, "***");
    // An invalid URL is named in the error, its password masked.
    const invalid = await runCli(["--env-file", envFile, "config", "validate"], {
      ...env,
      DATABASE_URL: `postgres://kick:${DB_PASSWORD}@db.example:port/kick`,
    });
    assert.equal(invalid.code, 78, invalid.stderr);
    assert.match(invalid.stderr, /DATABASE_URL=/);
    assert.match(invalid.stderr, /kick:\*\*\*@db\.example/);
    // Mistyped so that it is no URL at all: still masked.
    const mistyped = await runCli(["--env-file", envFile, "config", "validate"], {
      ...env,
      DATABASE_URL: `postgres:/kick:${DB_PASSWORD}@db.example/kick`,
    });
    assert.equal(mistyped.code, 78, mistyped.stderr);
    assert.match(mistyped.stderr, /DATABASE_URL=/);
    const outputs = [table, json, invalid, mistyped].flatMap((r) => [
      { what: "stdout", text: r.stdout },
      { what: "stderr", text: r.stderr },
    ]);
    assert.deepEqual(leaks(outputs, [DB_PASSWORD, SECRET]), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("security: a short or common database password does not mangle messages into stars", async () => {
  for (const password of ["postgres", "x"]) {
    const port = freePort();
    const { dir, envFile, env } = await bareEnv({
      DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    });
    try {
      const failed = await runCli(["--env-file", envFile, "db", "health"], env);
      assert.equal(failed.code, 69, failed.stderr);
      assert.ok(!failed.stderr.includes("***://"), failed.stderr);
      assert.match(failed.stderr, new RegExp(`DATABASE_URL \\(127\\.0\\.0\\.1:${port}\\)`));
      const shown = await runCli(["--env-file", envFile, "config", "show", "--json"], env);
      assert.equal(
        JSON.parse(shown.stdout).DATABASE_URL.value,
        `postgres://postgres:***@127.0.0.1:${port}/postgres`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test({
  name: "security: a secret a server echoes back URL-encoded is masked too",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Characters that URL- and form-encoding change, so the echo is not the raw secret.
    const secret = "kms/SECRET+9f8e 7d6c&5b4a";
    // An OAuth server that refuses the credentials and quotes the request body back.
    const oauth = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      const body = await request.text();
      return Response.json({
        error: "invalid_client",
        error_description: `bad credentials in ${body}`,
      }, { status: 401 });
    });
    const url = `http://127.0.0.1:${oauth.addr.port}`;
    const { dir, envFile, env } = await bareEnv({
      KICK_CLIENT_ID: CLIENT_ID,
      KICK_CLIENT_SECRET: secret,
      KICK_OAUTH_URL: url,
      KICK_API_URL: url,
    });
    try {
      const result = await runCli(["--env-file", envFile, "streamers", "test", "xqc"], env);
      assert.equal(result.code, 78, result.stderr);
      assert.match(result.stderr, /bad credentials in/, "the echo reached the message");
      const encoded = [
        secret,
        encodeURIComponent(secret),
        new URLSearchParams({ s: secret }).toString().slice(2),
      ];
      const outputs = [{ what: "stdout", text: result.stdout }, {
        what: "stderr",
        text: result.stderr,
      }];
      assert.deepEqual(leaks(outputs, encoded), []);
    } finally {
      await oauth.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("security: KICK_MONITOR_HTTP binds loopback unless told otherwise", () => {
  const cases: [string | undefined, { hostname: string; port: number } | null][] = [
    [undefined, { hostname: "127.0.0.1", port: 8080 }],
    ["127.0.0.1:9100", { hostname: "127.0.0.1", port: 9100 }],
    ["[::1]:9100", { hostname: "::1", port: 9100 }],
    ["0.0.0.0:9100", { hostname: "0.0.0.0", port: 9100 }],
    ["off", null],
  ];
  for (const [value, expected] of cases) {
    const env: Record<string, string> = value === undefined ? {} : { KICK_MONITOR_HTTP: value };
    // A non-loopback address needs the token (issue 14 item 4; tests/e2e/http_token_config_test.ts).
    if (value?.startsWith("0.0.0.0")) {
      assert.throws(() => loadConfig({ env, envFile: "/dev/null" }), /KICK_MONITOR_HTTP_TOKEN/);
      env.KICK_MONITOR_HTTP_TOKEN = "security-test-token-0123456789";
    }
    const config = loadConfig({ env, envFile: "/dev/null" });
    assert.deepEqual(config.http, expected, String(value));
  }
});

Deno.test("security: a .env holding a secret that others can read draws a warning naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-dotenv-" });
  try {
    const path = join(dir, ".env");
    await Deno.writeTextFile(path, `KICK_CLIENT_ID=id\nKICK_CLIENT_SECRET=${SECRET}\n`);
    const warnings: string[] = [];
    const warn = (message: string) => warnings.push(message);

    await Deno.chmod(path, 0o644);
    gatherSettings({ env: {}, envFile: path, warn });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /other users can read it \(mode 644\); run: chmod 600 /);
    assert.ok(warnings[0].includes(path));
    assert.ok(!warnings[0].includes(SECRET));

    await Deno.chmod(path, 0o600);
    gatherSettings({ env: {}, envFile: path, warn });
    assert.equal(warnings.length, 1, "no warning for a private file");

    // Without a secret in it, a readable .env is fine.
    const plain = join(dir, "plain.env");
    await Deno.writeTextFile(plain, "LOG_LEVEL=debug\n");
    await Deno.chmod(plain, 0o644);
    gatherSettings({ env: {}, envFile: plain, warn });
    assert.equal(warnings.length, 1);

    // A database password counts as a secret too; and the real CLI prints the warning on stderr.
    await Deno.writeTextFile(plain, "DATABASE_URL=postgres://u:hunter2hunter2@127.0.0.1:1/db\n");
    const result = await runCli(["--env-file", plain, "config", "validate"], {
      KICK_CLIENT_ID: "id",
      KICK_CLIENT_SECRET: "secret-not-in-the-file",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warning: .*holds DATABASE_URL .*chmod 600/);
    assert.ok(!result.stderr.includes("hunter2hunter2"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Every SQL statement is parameterised.

interface Interpolation {
  file: string;
  line: number;
  expression: string;
}

const SQL_WORDS =
  /\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE|DROP|ALTER|SAVEPOINT|RELEASE|ROLLBACK|SET search_path|WHERE|VALUES|FROM|JOIN|ORDER BY|LIMIT|GRANT|TRUNCATE)\b/;

/**
 * Finds `${…}` inside template literals whose text looks like SQL, and string literals that look like SQL with a
 * `+` next to them. A small scanner (strings, templates with nested expressions, comments), enough for our code.
 */
function findStringBuiltSql(file: string, source: string): Interpolation[] {
  const found: Interpolation[] = [];
  let i = 0;
  const lineAt = (at: number) => source.slice(0, at).split("\n").length;
  const readString = (): string => {
    const quote = source[i];
    const start = ++i;
    while (i < source.length && source[i] !== quote && source[i] !== "\n") {
      if (source[i] === "\\") i++;
      i++;
    }
    return source.slice(start, i++);
  };
  const readTemplate = (): { text: string; expressions: string[] } => {
    i++;
    let text = "";
    const expressions: string[] = [];
    while (i < source.length && source[i] !== "`") {
      if (source[i] === "\\") {
        text += source.slice(i, i + 2);
        i += 2;
      } else if (source[i] === "$" && source[i + 1] === "{") {
        i += 2;
        const start = i;
        let depth = 1;
        while (i < source.length && depth > 0) {
          const c = source[i];
          if (c === "`") readTemplate();
          else if (c === "'" || c === '"') readString();
          else {
            if (c === "{") depth++;
            if (c === "}") depth--;
            i++;
          }
        }
        expressions.push(source.slice(start, i - 1).trim());
        text += "${}";
      } else {
        text += source[i++];
      }
    }
    i++;
    return { text, expressions };
  };
  while (i < source.length) {
    const c = source[i];
    if (c === "/" && source[i + 1] === "/") {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      i = end < 0 ? source.length : end + 2;
    } else if (c === "`") {
      const at = i;
      const { text, expressions } = readTemplate();
      if (SQL_WORDS.test(text)) {
        for (const expression of expressions) found.push({ file, line: lineAt(at), expression });
      }
    } else if (c === "'" || c === '"') {
      const at = i;
      const text = readString();
      const joined = source.slice(0, at).trimEnd().endsWith("+") ||
        source.slice(i).trimStart().startsWith("+");
      if (SQL_WORDS.test(text) && joined) found.push({ file, line: lineAt(at), expression: "+" });
    } else {
      i++;
    }
  }
  return found;
}

/** Interpolations that are not values: quoted identifiers anywhere, and these reviewed ones. */
const ALLOWED: { file: string; expression: string; why: string }[] = [
  {
    file: "src/store/store.ts",
    expression: "SELECT_STREAMERS",
    why: "a constant statement prefix",
  },
  {
    file: "src/store/store.ts",
    expression: 'conditions.join(" AND ")',
    why: "constant fragments whose values are $n parameters",
  },
  { file: "src/store/store.ts", expression: "where", why: "the WHERE clause built just above" },
  { file: "src/store/store.ts", expression: "params.length", why: "a $n placeholder number" },
  {
    file: "src/store/notification_targets.ts",
    expression: "TARGET_COLUMNS",
    why: "a constant column list",
  },
  {
    file: "src/store/pglite_db.ts",
    expression: "name",
    why: "a savepoint name from an integer depth",
  },
  {
    file: "src/store/transitions.ts",
    expression: "INSERT_EVENTS",
    why: "a constant statement wrapped in a CTE",
  },
];

function allowed(interpolation: Interpolation): boolean {
  if (/^quoteIdentifier\(\w+\)$/.test(interpolation.expression)) return true;
  return ALLOWED.some((a) =>
    a.file === interpolation.file && a.expression === interpolation.expression
  );
}

Deno.test("security: the scanner finds string-built SQL", () => {
  const bad = [
    "db.query(`SELECT * FROM streamers WHERE slug = '${slug}'`);",
    'db.query("DELETE FROM streamers WHERE slug = \'" + slug + "\'");',
    "db.exec(`DROP TABLE ${`t_${name}`}`);",
  ].join("\n");
  assert.deepEqual(
    findStringBuiltSql("x.ts", bad).map((f) => f.expression),
    ["slug", "+", "`t_${name}`"],
  );
  const good = [
    'db.query("SELECT * FROM streamers WHERE slug = $1", [slug]);',
    "db.query(`SELECT 1`); log.info(`Applied ${n} migrations`);",
  ].join("\n");
  assert.deepEqual(findStringBuiltSql("x.ts", good), []);
});

Deno.test("security: every SQL statement in src/ is parameterised", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (path.endsWith(".ts")) files.push(path);
    }
  };
  await walk(join(root, "src"));
  const found: Interpolation[] = [];
  for (const path of files) {
    found.push(...findStringBuiltSql(relative(root, path), await Deno.readTextFile(path)));
  }
  // The scan sees the known, reviewed interpolations (so it is looking at the right code)…
  assert.ok(found.some((f) => f.expression === "params.length"));
  // …and nothing else.
  const offenders = found.filter((f) => !allowed(f)).map((f) =>
    `${f.file}:${f.line} interpolates ${f.expression}`
  );
  assert.deepEqual(offenders, []);
});

// ---------------------------------------------------------------------------------------------------------------
// Bounded memory: the database writer while the database is down.

function transition(n: number): Transition {
  const at = new Date(Date.UTC(2026, 10, 25, 18, 0, 0, n));
  return {
    dedupeKey: `s:${n}`,
    slug: "s",
    type: n % 2 === 0 ? "offline" : "online",
    occurredAt: at,
    receivedAt: at,
    source: "pusher",
    livestreamId: n,
    title: null,
    category: null,
    baseline: false,
    raw: null,
  };
}

function failingStore(written: string[]) {
  const store = {
    down: true,
    applyTransitions(transitions: Transition[]) {
      if (store.down) return Promise.reject(new Error("connection refused"));
      for (const t of transitions) written.push(t.dedupeKey);
      return Promise.resolve({ inserted: transitions.length, skipped: 0 });
    },
  };
  return store;
}

Deno.test("security: the writer keeps at most maxQueued entries in memory while the database is down", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-bounded-" });
  const LIMIT = 50;
  try {
    const { journal } = await Journal.open(dir);
    const written: string[] = [];
    const store = failingStore(written);
    const writer = new DatabaseWriter({
      store,
      cursor: journal,
      maxQueued: LIMIT,
      maxBatch: 7,
      retry: { baseMs: 5, capMs: 20 },
    });
    writer.start();
    let peak = 0;
    // 2 × the limit, appended and handed over in small groups as the monitor does.
    for (let n = 1; n <= 2 * LIMIT; n += 10) {
      const entries = await journal.append(
        Array.from({ length: 10 }, (_, k) => transition(n + k)),
      );
      writer.enqueue(entries);
      peak = Math.max(peak, writer.queued);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    peak = Math.max(peak, writer.queued);
    assert.ok(peak <= LIMIT, `peak ${peak}`);
    assert.equal(writer.backlog, 2 * LIMIT);
    assert.equal(written.length, 0);

    store.down = false;
    await waitFor("everything committed", () => writer.backlog === 0, 5_000, 5);
    await writer.stop();
    assert.deepEqual(written, Array.from({ length: 2 * LIMIT }, (_, k) => `s:${k + 1}`));
    assert.equal(journal.committedSeq, 2 * LIMIT);
    journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("security: recovery of a long journal holds a bounded window and replays everything in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-bounded-recovery-" });
  const LIMIT = 40;
  try {
    const first = await Journal.open(dir);
    await first.journal.append(Array.from({ length: 3 * LIMIT + 5 }, (_, k) => transition(k + 1)));
    await first.journal.markCommitted(5);
    first.journal.close();

    const { journal, recovery } = await Journal.open(dir, { maxPending: LIMIT });
    assert.equal(recovery.pending.length, LIMIT);
    assert.equal(recovery.pendingTotal, 3 * LIMIT);
    assert.equal(recovery.pending[0].seq, 6);
    // What the previous run last decided is known even though the window holds only the beginning.
    assert.deepEqual(recovery.latestPerSlug.map((t) => t.dedupeKey), [`s:${3 * LIMIT + 5}`]);
    const written: string[] = [];
    const store = failingStore(written);
    store.down = false;
    let peak = 0;
    const writer = new DatabaseWriter({
      store,
      cursor: journal,
      maxQueued: LIMIT,
      onCommitted: () => void (peak = Math.max(peak, writer.queued)),
    });
    // As Monitor.create does: the recovered window, then new entries as they are journaled.
    writer.enqueue(recovery.pending);
    writer.start();
    const fresh: JournalEntry[] = await journal.append([transition(1_000)]);
    writer.enqueue(fresh);
    await waitFor("everything committed", () => writer.backlog === 0, 5_000, 5);
    await writer.stop();
    assert.ok(peak <= LIMIT);
    assert.deepEqual(written, [
      ...Array.from({ length: 3 * LIMIT }, (_, k) => `s:${k + 6}`),
      "s:1000",
    ]);
    journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("security: a small window under load, appends racing the read-back, commits everything once, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-bounded-race-" });
  const LIMIT = 8;
  try {
    const { journal } = await Journal.open(dir);
    const written: string[] = [];
    let peak = 0;
    const writer = new DatabaseWriter({
      store: {
        async applyTransitions(transitions: Transition[]) {
          peak = Math.max(peak, writer.queued);
          // A slow database: the window fills and spills while appends keep coming.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
          for (const t of transitions) written.push(t.dedupeKey);
          return { inserted: transitions.length, skipped: 0 };
        },
      },
      cursor: journal,
      maxQueued: LIMIT,
      maxBatch: 3,
    });
    writer.start();
    let n = 0;
    for (let group = 0; group < 60; group++) {
      const size = 1 + Math.floor(Math.random() * 6);
      const entries = await journal.append(
        Array.from({ length: size }, () => transition(++n)),
      );
      writer.enqueue(entries);
      peak = Math.max(peak, writer.queued);
      if (group % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await waitFor("everything committed", () => writer.backlog === 0, 10_000, 5);
    await writer.stop();
    assert.ok(peak <= LIMIT, `peak ${peak}`);
    assert.deepEqual(written, Array.from({ length: n }, (_, k) => `s:${k + 1}`));
    journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
