/**
 * Operator safety, the small items of issue 11, on the real CLI in a subprocess:
 *
 * - a Unix-socket DATABASE_URL (`postgres:///db?host=/var/run/postgresql`) is accepted and works;
 * - "address already in use" on the HTTP listener names KICK_MONITOR_HTTP and the address (exit 78);
 * - an oversized value (or .env file) is a configuration error naming the variable, not a crash;
 * - `db health` on the embedded database does not create it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort } from "../helpers/cli.ts";
import { isolatedCliEnv as isolatedEnv, runCliWithin as runCli } from "../helpers/isolated_cli.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL") || undefined;
const SOCKET_DIR = "/var/run/postgresql";

function socketExists(): boolean {
  try {
    return Deno.statSync(`${SOCKET_DIR}/.s.PGSQL.5432`).isSocket === true;
  } catch {
    return false;
  }
}

Deno.test("a Unix-socket DATABASE_URL passes validation in both of libpq's forms", async () => {
  for (
    const url of [
      `postgres:///kick?host=${SOCKET_DIR}`,
      `postgres://kick@/kick?host=${SOCKET_DIR}`,
      `postgresql://kick:pw@/kick?host=${SOCKET_DIR}&application_name=x`,
    ]
  ) {
    const { dir, env } = await isolatedEnv({ DATABASE_URL: url });
    try {
      const result = await runCli(["config", "validate"], env);
      assert.equal(result.code, 0, `${url}: ${result.stderr}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test({
  name: "db health over a Unix socket reaches PostgreSQL",
  ignore: TEST_DATABASE_URL === undefined || !socketExists(),
  async fn() {
    const tcp = new URL(TEST_DATABASE_URL!);
    const database = tcp.pathname.slice(1);
    const user = tcp.username || "postgres";
    for (
      const url of [
        `postgres:///${database}?host=${SOCKET_DIR}&user=${user}`,
        `postgres://${user}@/${database}?host=${SOCKET_DIR}`,
      ]
    ) {
      const { dir, env } = await isolatedEnv({ DATABASE_URL: url });
      try {
        const result = await runCli(["db", "health", "--json"], env);
        assert.equal(result.code, 0, `${url}: ${result.stderr}`);
        assert.equal(JSON.parse(result.stdout).backend, "postgres");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  },
});

Deno.test({
  name:
    "service start: the HTTP address already in use is a configuration error naming KICK_MONITOR_HTTP",
  sanitizeResources: false,
  async fn() {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    const { dir, env } = await isolatedEnv({
      KICK_MONITOR_HTTP: `127.0.0.1:${port}`,
      // Unreachable: the listener must be refused before the daemon waits for its database.
      DATABASE_URL: `postgres://kick@127.0.0.1:${freePort()}/kick`,
    });
    try {
      const result = await runCli(["service", "start"], env, { limitMs: 20_000 });
      assert.equal(result.code, 78, result.stderr);
      assert.match(result.stderr, new RegExp(`KICK_MONITOR_HTTP=127\\.0\\.0\\.1:${port}`));
      assert.match(result.stderr, /already in use/);
    } finally {
      taken.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("config show: a 50 MB value in .env is refused (78) naming the variable", async () => {
  const { dir, env } = await isolatedEnv();
  try {
    const path = join(dir, ".env");
    const huge = "a".repeat(50 * 1024 * 1024);
    await Deno.writeTextFile(path, `LOG_LEVEL=info\nKICK_API_URL=https://${huge}\n`, {
      mode: 0o600,
    });
    for (const args of [["config", "show"], ["config", "show", "--json"], ["config", "validate"]]) {
      const started = performance.now();
      const result = await runCli(args, env, { cwd: dir });
      const elapsed = performance.now() - started;
      assert.equal(result.code, 78, `${args.join(" ")}: ${result.stderr.slice(0, 500)}`);
      assert.match(result.stderr, /KICK_API_URL/);
      assert.ok(result.stderr.length < 2_000, "the value is not echoed");
      if (args.includes("--json")) {
        // --json always answers, a failure too (issue 11, item 6): one error document, without the value.
        const document = JSON.parse(result.stdout);
        assert.equal(document.error.exit_code, 78);
        assert.match(document.error.message, /KICK_API_URL/);
        assert.ok(result.stdout.length < 2_000, "the value is not echoed");
      } else assert.equal(result.stdout, "");
      assert.ok(elapsed < 15_000, `took ${elapsed.toFixed(0)} ms`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config show: an oversized value in the environment is refused (78) naming the variable", async () => {
  const { dir, env } = await isolatedEnv({ KICK_CLIENT_ID: "x".repeat(100_000) });
  try {
    const result = await runCli(["config", "show"], env);
    assert.equal(result.code, 78, result.stderr.slice(0, 500));
    assert.match(result.stderr, /KICK_CLIENT_ID \(from env\) is 100000 characters long/);
    assert.ok(result.stderr.length < 2_000, "the value is not echoed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("db health on the embedded database does not create it, and says so (69)", async () => {
  const { dir, env } = await isolatedEnv();
  try {
    const result = await runCli(["db", "health"], env, { cwd: dir });
    assert.equal(result.code, 69, result.stderr);
    assert.match(result.stderr, /No embedded database in .*pgdata yet/);
    assert.match(result.stderr, /db migrate/);
    const created = await Deno.stat(join(dir, "data")).then(() => true, () => false);
    assert.equal(created, false, "the data directory was created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
