/**
 * KICK_MONITOR_HTTP_TOKEN as configuration (issue 14 item 4): a non-loopback listener without it is a
 * configuration error (exit 78) for `config validate` and `service start`; `config show` masks the token; a
 * short token is refused. The pure rule is checked on validateSettings too.
 */
import assert from "node:assert/strict";
import { validateSettings } from "../../src/config.ts";
import { isLoopback } from "../../src/http/access.ts";
import { runCli } from "../helpers/cli.ts";
import { isolatedCliEnv } from "../helpers/isolated_cli.ts";

const TOKEN = "a-long-enough-token-6a1f0c9e";

Deno.test("a non-loopback listener needs KICK_MONITOR_HTTP_TOKEN; loopback does not", () => {
  for (const host of ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"]) {
    assert.deepEqual(validateSettings({ KICK_MONITOR_HTTP: `${host}:8080` }).problems, [], host);
  }
  for (const host of ["0.0.0.0", "192.168.1.5", "[::]", "example.org"]) {
    const problems = validateSettings({ KICK_MONITOR_HTTP: `${host}:8080` }).problems;
    assert.equal(problems.length, 1, host);
    assert.match(problems[0], /^KICK_MONITOR_HTTP=.*needs KICK_MONITOR_HTTP_TOKEN/);
    assert.deepEqual(
      validateSettings({ KICK_MONITOR_HTTP: `${host}:8080`, KICK_MONITOR_HTTP_TOKEN: TOKEN })
        .problems,
      [],
    );
  }
  assert.deepEqual(validateSettings({ KICK_MONITOR_HTTP: "off" }).problems, []);
  const short = validateSettings({ KICK_MONITOR_HTTP_TOKEN: "short" }).problems;
  assert.equal(short.length, 1);
  assert.match(short[0], /^KICK_MONITOR_HTTP_TOKEN=\*\*\*: expected at least 16 characters/);
  assert.ok(isLoopback("127.0.0.1") && !isLoopback("128.0.0.1") && !isLoopback("127.0.0.1.evil"));
});

Deno.test("config validate and service start exit 78 on 0.0.0.0 without a token; config show masks it", async () => {
  const { dir, env } = await isolatedCliEnv({ KICK_MONITOR_HTTP: "0.0.0.0:8080" });
  try {
    for (const command of [["config", "validate"], ["service", "start"]]) {
      const result = await runCli(command, env);
      assert.equal(result.code, 78, `${command.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /KICK_MONITOR_HTTP_TOKEN/);
    }
    const withToken = { ...env, KICK_MONITOR_HTTP_TOKEN: TOKEN };
    const valid = await runCli(["config", "validate"], withToken);
    assert.equal(valid.code, 0, valid.stderr);
    const shown = await runCli(["config", "show"], withToken);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /KICK_MONITOR_HTTP_TOKEN\s+\*\*\*/);
    assert.ok(!shown.stdout.includes(TOKEN) && !shown.stderr.includes(TOKEN));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
