/**
 * `deno task soak [--duration 10m] [--seed N] [--streamers 200] [--poll 3] [--grace 1] [--keep]`: runs the
 * soak (harness.ts) against PostgreSQL (TEST_DATABASE_URL, DATABASE_URL or the local test server) and prints
 * its report. Exits 1 when a transition is missing or duplicated, or the daemon crashed; 2 on a bad argument.
 */
import { parseArgs } from "node:util";
import { formatReport, runSoak } from "./harness.ts";

const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

/** "10m", "45s", "1h" or plain seconds, to milliseconds; null when unreadable. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) return null;
  const value = Number(match[1]);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]!;
  return Math.round(value * unit);
}

function usage(message: string): never {
  console.error(
    `${message}\nUsage: deno task soak [--duration 10m] [--seed N] [--streamers 200] ` +
      "[--poll SECONDS] [--grace SECONDS] [--keep]",
  );
  Deno.exit(2);
}

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    usage(`--${name} expects a whole number, got ${JSON.stringify(text)}`);
  }
  return value;
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        duration: { type: "string", default: "10m" },
        seed: { type: "string" },
        streamers: { type: "string" },
        poll: { type: "string" },
        grace: { type: "string" },
        keep: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const durationMs = parseDuration(values.duration);
  if (durationMs === null || durationMs < 10_000) {
    usage(
      `--duration expects e.g. 45s or 10m (at least 10 s), got ${JSON.stringify(values.duration)}`,
    );
  }
  const seed = integer("seed", values.seed, Math.floor(Math.random() * 2 ** 31));
  const databaseUrl = Deno.env.get("TEST_DATABASE_URL") ?? Deno.env.get("DATABASE_URL") ??
    DEFAULT_DATABASE_URL;
  const started = new Date();
  console.log(`soak starting at ${started.toISOString()} with seed ${seed}`);
  const report = await runSoak({
    durationMs,
    seed,
    databaseUrl,
    streamers: integer("streamers", values.streamers, 200),
    pollIntervalSeconds: integer("poll", values.poll, 3),
    offlineGraceSeconds: integer("grace", values.grace, 1),
    keepFiles: values.keep,
    log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
  });
  for (const line of formatReport(report)) console.log(line);
  Deno.exit(report.ok ? 0 : 1);
}
