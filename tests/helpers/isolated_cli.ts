/**
 * The real CLI in a subprocess for operator-safety tests: an environment that inherits nothing (so a
 * developer's own .env or variables cannot change the outcome) and points Kick at closed local ports (never
 * the internet), and a runner that kills a hung command so that a hang fails the test instead of stalling it.
 */
import { join } from "node:path";
import { type CliResult, freePort, spawnCli } from "./cli.ts";

/** Deno's cache, so the subprocesses reuse the modules already downloaded whatever HOME says. */
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  join(Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache"), "deno");

/** A fresh temporary directory and an environment for the CLI in it; `extra` wins. Remove `dir` afterwards. */
export async function isolatedCliEnv(
  extra: Record<string, string> = {},
): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-safety-" });
  const nowhere = `http://127.0.0.1:${freePort()}`;
  return {
    dir,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: dir,
      DENO_DIR,
      KICK_MONITOR_DATA_DIR: join(dir, "data"),
      KICK_CLIENT_ID: "safety-client",
      KICK_CLIENT_SECRET: "safety-secret-0123456789",
      KICK_OAUTH_URL: nowhere,
      KICK_API_URL: nowhere,
      KICK_WEB_URL: nowhere,
      KICK_PUSHER_URL: `ws://127.0.0.1:${freePort()}/app/key`,
      KICK_MONITOR_HTTP: "off",
      LOG_FORMAT: "json",
      ...extra,
    },
  };
}

/** Runs `kick-monitor ...args` to completion, or kills it (SIGKILL) after `limitMs` (30 s by default). */
export async function runCliWithin(
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string; limitMs?: number } = {},
): Promise<CliResult> {
  const run = spawnCli(args, env, { cwd: options.cwd });
  const timer = setTimeout(() => {
    try {
      run.child.kill("SIGKILL");
    } catch {
      // Exited just now.
    }
  }, options.limitMs ?? 30_000);
  try {
    return await run.output();
  } finally {
    clearTimeout(timer);
  }
}
