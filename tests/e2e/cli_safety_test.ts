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
