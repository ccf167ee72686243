/**
 * Benchmark 6, CLI start-up: `streamers list --json` with 1,000 streamers on PostgreSQL, each run a cold
 * process. The module graph is already in Deno's cache (the first, untimed run fills it, as installing does), so
 * the figure is process start + module evaluation + connect + query + JSON out, not downloads or type-checking
 * (`deno run` does not type-check). A compiled binary at dist/kick-monitor is measured too when present.
 */
import { openStore } from "../src/store/store.ts";
import { createBenchDatabase, type Figure, quantile, round } from "./lib.ts";

export interface StartupOptions {
  streamers?: number;
  runs?: number;
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const BINARY = new URL("../dist/kick-monitor", import.meta.url).pathname;

async function timeRun(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
) {
  const started = performance.now();
  const output = await new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    // An empty directory: no .env, no ./data.
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (output.code !== 0) {
    throw new Error(
      `streamers list --json exited ${output.code}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return { ms, rows: (JSON.parse(new TextDecoder().decode(output.stdout)) as unknown[]).length };
}

async function timeRuns(
  cwd: string,
  runs: number,
  command: string,
  args: string[],
  env: Record<string, string>,
  expected: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { ms, rows } = await timeRun(command, args, env, cwd);
    if (rows !== expected) throw new Error(`streamers list --json printed ${rows} of ${expected}`);
    times.push(ms);
  }
  return times.sort((a, b) => a - b);
}

/** Runs benchmark 6 and returns its figures. */
export async function runStartup(options: StartupOptions = {}): Promise<Figure[]> {
  const streamers = options.streamers ?? 1_000;
  const runs = options.runs ?? 7;
  const database = await createBenchDatabase("startup");
  const cwd = await Deno.makeTempDir({ prefix: "kick-bench-startup-" });
  try {
    const store = await openStore({ databaseUrl: database.url });
    try {
      await store.migrate();
      const rows = [];
      for (let i = 0; i < streamers; i++) {
        rows.push({ slug: `streamer_${i}`, broadcasterUserId: 1_000 + i, channelId: 5_000 + i });
      }
      await store.addStreamers(rows);
    } finally {
      await store.close();
    }
    const env = {
      DATABASE_URL: database.url,
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      LOG_LEVEL: "error",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    };
    const args = ["run", "-A", MAIN, "streamers", "list", "--json"];
    await timeRun(Deno.execPath(), args, env, cwd); // fills the module cache; not timed
    const times = await timeRuns(cwd, runs, Deno.execPath(), args, env, streamers);
    const p50 = quantile(times, 0.5);
    const figures: Figure[] = [{
      benchmark: "6 CLI start-up (PostgreSQL)",
      figure: `deno run main.ts streamers list --json, ${streamers.toLocaleString("en")} streamers`,
      unit: "ms (median)",
      ours: round(p50, 0),
      peer: null,
      ratio: null,
      target: "≤ 300 ms",
      pass: p50 <= 300,
      note: `${runs} cold processes, module graph cached; min ${round(times[0], 0)} ms, max ${
        round(times[times.length - 1], 0)
      } ms`,
    }];
    const binary = await Deno.stat(BINARY).then(() => true, () => false);
    if (binary) {
      const bin = await timeRuns(
        cwd,
        runs,
        BINARY,
        ["streamers", "list", "--json"],
        env,
        streamers,
      );
      figures.push({
        ...figures[0],
        figure: `dist/kick-monitor streamers list --json, ${
          streamers.toLocaleString("en")
        } streamers`,
        ours: round(quantile(bin, 0.5), 0),
        pass: quantile(bin, 0.5) <= 300,
        note: `${runs} cold processes of the compiled binary`,
      });
    }
    return figures;
  } finally {
    await database.drop();
    await Deno.remove(cwd, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runStartup(), null, 2));
}
