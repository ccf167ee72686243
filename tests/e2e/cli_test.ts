/**
 * The CLI's contract from interface.md, checked on the real CLI in a subprocess: help and usage errors, exit codes,
 * configuration commands, database commands against PostgreSQL, and streamer management against the fake Kick.
 * The PostgreSQL cases run when TEST_DATABASE_URL is set.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, startFakeKick } from "../../src/sim/kick.ts";
import { freePort, runCli } from "../helpers/cli.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const SECRET = "cli-test-secret-4b1d";
const REPO_ROOT = new URL("../..", import.meta.url).pathname;

/** Deno's cache, so the subprocesses reuse the modules already downloaded whatever HOME says. */
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  join(Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache"), "deno");

/** An environment with nothing inherited, so a developer's own .env or variables cannot change the outcome. */
async function isolatedEnv(extra: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-cli-" });
  return {
    dir,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: dir,
      DENO_DIR,
      KICK_MONITOR_DATA_DIR: join(dir, "data"),
      LOG_FORMAT: "json",
      ...extra,
    },
  };
}

/** A fresh PostgreSQL database for one test. */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = postgres(TEST_DATABASE_URL!, { onnotice: () => {} });
  const name = `kick_cli_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
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

Deno.test("every command answers --help with exit 0", async () => {
  const { dir, env } = await isolatedEnv();
  try {
    const commands = [
      [],
      ["config"],
      ["config", "show"],
      ["config", "validate"],
      ["config", "init"],
      ["db", "migrate"],
      ["db", "health"],
      ["streamers", "add"],
      ["streamers", "remove"],
      ["streamers", "list"],
      ["streamers", "test"],
      ["streamers", "history"],
      ["events", "list"],
      ["service", "start"],
      ["service", "stop"],
      ["service", "status"],
      ["check"],
      ["doctor"],
      ["demo"],
    ];
    const results = await Promise.all(commands.map((c) => runCli([...c, "--help"], env)));
    results.forEach((result, i) => {
      assert.equal(result.code, 0, `${commands[i].join(" ")} --help: ${result.stderr}`);
      assert.match(result.stdout, /Usage:/, commands[i].join(" "));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown command, an unknown flag or a bad argument is a usage error (exit 2)", async () => {
  const { dir, env } = await isolatedEnv();
  try {
    const unknownCommand = await runCli(["frobnicate"], env);
    assert.equal(unknownCommand.code, 2, unknownCommand.stderr);
    const unknownFlag = await runCli(["streamers", "list", "--frobnicate"], env);
    assert.equal(unknownFlag.code, 2, unknownFlag.stderr);
    assert.match(unknownFlag.stderr, /frobnicate/);
    const badLimit = await runCli(["events", "list", "--limit", "many"], env);
    assert.equal(badLimit.code, 2, badLimit.stderr);
    assert.match(badLimit.stderr, /limit/i);
    const badSlug = await runCli(["streamers", "add", "Robert'); DROP TABLE streamers;--"], env);
    assert.equal(badSlug.code, 2, badSlug.stderr);
    assert.match(badSlug.stderr, /slug/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config validate names every bad variable and exits 78", async () => {
  const { dir, env } = await isolatedEnv({
    KICK_MONITOR_POLL_INTERVAL: "soon",
    LOG_LEVEL: "loud",
    KICK_MONITOR_HTTP: "not-a-listener:99999",
  });
  try {
    const result = await runCli(["config", "validate"], env);
    assert.equal(result.code, 78, result.stderr);
    for (const name of ["KICK_MONITOR_POLL_INTERVAL", "LOG_LEVEL", "KICK_MONITOR_HTTP"]) {
      assert.match(result.stderr, new RegExp(name), `${name} is named`);
    }
    const good = await runCli(
      ["config", "validate"],
      (await isolatedEnv({ KICK_CLIENT_ID: "id", KICK_CLIENT_SECRET: "secret" })).env,
    );
    assert.equal(good.code, 0, good.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config show hides the secret, and flag > env > .env > default", async () => {
  const { dir, env } = await isolatedEnv({
    KICK_CLIENT_ID: "from-env",
    KICK_CLIENT_SECRET: SECRET,
  });
  try {
    await Deno.writeTextFile(
      join(dir, ".env"),
      "KICK_CLIENT_ID=from-dotenv\nKICK_MONITOR_POLL_INTERVAL=42\n",
      { mode: 0o600 },
    );
    const result = await runCli(["config", "show", "--json"], env, { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes(SECRET) && !result.stderr.includes(SECRET));
    const shown = JSON.stringify(JSON.parse(result.stdout));
    assert.match(shown, /from-env/, "the environment beats .env");
    assert.match(shown, /42/, ".env beats the default");
    assert.match(shown, /\*\*\*/, "the secret is shown as ***");

    await Deno.writeTextFile(join(dir, "other.env"), "KICK_MONITOR_POLL_INTERVAL=77\n", {
      mode: 0o600,
    });
    const picked = await runCli(["--env-file", "other.env", "config", "show", "--json"], env, {
      cwd: dir,
    });
    assert.equal(picked.code, 0, picked.stderr);
    assert.match(picked.stdout, /77/, "--env-file picks another file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config init writes a template once and overwrites only with --force", async () => {
  const { dir, env } = await isolatedEnv();
  try {
    const first = await runCli(["config", "init"], env, { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const template = await Deno.readTextFile(join(dir, ".env"));
    assert.match(template, /KICK_CLIENT_ID/);
    assert.match(template, /^#/m, "the template is commented");
    assert.equal((await Deno.stat(join(dir, ".env"))).mode! & 0o777, 0o600);

    await Deno.writeTextFile(join(dir, ".env"), "KICK_CLIENT_ID=mine\n");
    const second = await runCli(["config", "init"], env, { cwd: dir });
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /already exists/);
    assert.equal(await Deno.readTextFile(join(dir, ".env")), "KICK_CLIENT_ID=mine\n", "kept");

    const forced = await runCli(["config", "init", "--force"], env, { cwd: dir });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(await Deno.readTextFile(join(dir, ".env")), /KICK_MONITOR_POLL_INTERVAL/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("db health against a closed port exits 69 within 5 s with a clear message", async () => {
  const port = freePort();
  const { dir, env } = await isolatedEnv({
    DATABASE_URL: `postgres://kick:hunter2@127.0.0.1:${port}/nowhere`,
  });
  try {
    const started = performance.now();
    const result = await runCli(["db", "health"], env);
    const elapsed = performance.now() - started;
    assert.equal(result.code, 69, result.stderr);
    assert.match(result.stderr, /PostgreSQL|database/i);
    assert.match(result.stderr, new RegExp(String(port)), "names where it tried");
    assert.ok(!result.stderr.includes("hunter2"), "the password is not printed");
    assert.ok(elapsed < 5_000, `took ${elapsed.toFixed(0)} ms`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "db migrate twice in parallel leaves one applied copy; db health --json reports it",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const database = await freshDatabase();
    const { dir, env } = await isolatedEnv({ DATABASE_URL: database.url });
    try {
      const [a, b] = await Promise.all([
        runCli(["db", "migrate"], env),
        runCli(["db", "migrate"], env),
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const sql = postgres(database.url, { onnotice: () => {} });
      try {
        const files = [...Deno.readDirSync(join(REPO_ROOT, "sql"))]
          .filter((f) => f.name.endsWith(".sql"));
        const tables = await sql<{ table_name: string }[]>`
          SELECT table_name FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_name LIKE '%migration%'`;
        assert.equal(tables.length, 1, "one migrations table");
        const [{ count }] = await sql.unsafe(
          `SELECT count(*)::int AS count FROM ${tables[0].table_name}`,
        );
        assert.equal(count, files.length, "each migration applied once");
      } finally {
        await sql.end();
      }
      const health = await runCli(["db", "health", "--json"], env);
      assert.equal(health.code, 0, health.stderr);
      const report = JSON.parse(health.stdout);
      assert.equal(report.pending_migrations?.length ?? report.pending?.length ?? 0, 0);
    } finally {
      await database.drop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

interface KickHarness {
  kick: FakeKick;
  world: FakeWorld;
  env: Record<string, string>;
  dir: string;
  cleanup(): Promise<void>;
}

async function kickHarness(slugs: string[], secret = SECRET): Promise<KickHarness> {
  const world = new FakeWorld();
  for (const slug of slugs) world.addStreamer(slug);
  const kick = await startFakeKick({ world, clientId: "cli-client", clientSecret: SECRET });
  const database = await freshDatabase();
  const { dir, env } = await isolatedEnv({
    DATABASE_URL: database.url,
    KICK_CLIENT_ID: "cli-client",
    KICK_CLIENT_SECRET: secret,
    KICK_OAUTH_URL: kick.url,
    KICK_API_URL: kick.url,
    KICK_WEB_URL: kick.url,
    KICK_API_RATE: "100",
  });
  return {
    kick,
    world,
    env,
    dir,
    async cleanup() {
      await kick.close();
      await database.drop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name:
    "streamers add with 60 slugs asks the official API in 3 batches, and list --json has them all",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const slugs = Array.from({ length: 60 }, (_, i) => `streamer_${i}`);
    const h = await kickHarness(slugs);
    try {
      const added = await runCli(["streamers", "add", ...slugs], h.env);
      assert.equal(added.code, 0, added.stderr);
      assert.equal(h.kick.requestsTo("channels").length, 3, "3 batched requests, not 60");

      const again = await runCli(["streamers", "add", "streamer_0"], h.env);
      assert.equal(again.code, 0, "adding twice is harmless");

      const list = await runCli(["streamers", "list", "--json"], h.env);
      assert.equal(list.code, 0, list.stderr);
      const rows = JSON.parse(list.stdout) as Record<string, unknown>[];
      assert.equal(rows.length, 60);
      assert.deepEqual(Object.keys(rows[0]).sort(), [
        "broadcaster_user_id",
        "channel_id",
        "coverage",
        "last_checked_at",
        "session",
        "slug",
        "status",
        "status_changed_at",
        "status_reason",
      ]);
      assert.ok(rows.every((row) => typeof row.broadcaster_user_id === "number"));
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test({
  name:
    "streamers add: an unknown slug fails clearly and adds nothing for it; the known ones are kept",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const h = await kickHarness(["known_one"]);
    try {
      const result = await runCli(["streamers", "add", "known_one", "nobody_here"], h.env);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /nobody_here/);
      assert.match(result.stderr, /no channel named "nobody_here"/);
      const list = await runCli(["streamers", "list", "--json"], h.env);
      const slugs = (JSON.parse(list.stdout) as { slug: string }[]).map((r) => r.slug);
      assert.ok(!slugs.includes("nobody_here"));
      assert.ok(slugs.includes("known_one"), "the slug Kick knows is added");
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test({
  name:
    "Kick credentials rejected → exit 78; Kick unreachable → exit 69; streamers test writes nothing",
  ignore: !TEST_DATABASE_URL,
  async fn() {
    const rejected = await kickHarness(["xqc"], "not-the-secret");
    try {
      const result = await runCli(["streamers", "add", "xqc"], rejected.env);
      assert.equal(result.code, 78, result.stderr);
      assert.match(result.stderr, /KICK_CLIENT_ID and KICK_CLIENT_SECRET/);
      assert.ok(!result.stderr.includes("not-the-secret"));
    } finally {
      await rejected.cleanup();
    }

    const h = await kickHarness(["xqc"]);
    try {
      h.world.goLive("xqc", { title: "hello" });
      const tested = await runCli(["streamers", "test", "xqc"], h.env);
      assert.equal(tested.code, 0, tested.stderr);
      assert.match(tested.stdout, /hello/);
      const list = await runCli(["streamers", "list", "--json"], h.env);
      assert.deepEqual(JSON.parse(list.stdout), [], "streamers test stored nothing");

      const closed = freePort();
      const unreachable = await runCli(["streamers", "add", "xqc"], {
        ...h.env,
        KICK_OAUTH_URL: `http://127.0.0.1:${closed}`,
        KICK_API_URL: `http://127.0.0.1:${closed}`,
        KICK_WEB_URL: `http://127.0.0.1:${closed}`,
      });
      assert.equal(unreachable.code, 69, unreachable.stderr);
      assert.match(unreachable.stderr, /Kick|reach|connect/i);
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test("deno task start passes arguments straight to the CLI (no `--` needed)", async () => {
  const { dir, env } = await isolatedEnv();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "start", "config", "show", "--json"],
      cwd: REPO_ROOT,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.ok(typeof JSON.parse(stdout) === "object");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
