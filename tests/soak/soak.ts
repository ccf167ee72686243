/**
 * `deno task soak [--duration 10m] [--seed N] [--streamers 200] [--poll 3] [--grace 1] [--api-rate 50]
 * [--poll-only PCT] [--api-lag S] [--drift] [--flicker] [--webhooks] [--notify] [--instances N] [--lease-ttl S]
 * [--keep]`: runs the soak (harness.ts) against PostgreSQL
 * (TEST_DATABASE_URL, DATABASE_URL or the local test server) and prints its report. Exits 1 when a transition is
 * missing, duplicated, false, out of order or at a wrong time (the tolerance is printed), a notification is
 * missing, duplicated or sent inside a wait Discord announced, the daemon crashed, or (with --instances) a stale
 * write was accepted or a streamer went without a working owner past the TTL + one poll interval; 2 on a bad
 * argument.
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

const USAGE = `Usage: deno task soak [options]

  --duration 10m     how long flips and faults run (e.g. 45s, 10m; at least 10 s)
  --seed N           replay a run (the holds and the order of faults come from it)
  --streamers 200    streamers monitored
  --poll 3           the daemon's KICK_MONITOR_POLL_INTERVAL (seconds; 10 with --instances)
  --grace 1          the daemon's KICK_MONITOR_OFFLINE_GRACE (seconds)
  --api-rate 50      the daemon's KICK_API_RATE (requests per second; a pass is ceil(streamers / 50) requests)
  --poll-only PCT    that share of streamers (0-100) is added without a channel id, its Pusher channel silent:
                     only the poll sees them
  --api-lag S        Kick's official API lags the truth by up to S seconds, varying per channel and answer
                     (below --poll, successive answers about a channel never go back in time)
  --drift            odd-but-harmless fields on some items, changing over time; one owner's channel
  --flicker          now and then one answer about a streamer shows the opposite state
  --webhooks         Kick also delivers signed webhooks to the daemon's receiver (it subscribes itself);
                     5% are lost, all up to 2 s late, 10% sent twice (half under a new message id)
  --notify           a fake Discord target per streamer; the report compares its messages with the events
  --instances N      N monitors (2-8) on the one database, each behind its own cuttable proxy (needs leases,
                     sql/005_leases.sql); adds monitor faults: one SIGKILLed (restarted under its name after the
                     TTL + a poll), one cut off from the database and one paused (SIGSTOP) for longer than the
                     TTL, one more monitor started mid-run; reports stale writes and the longest ownerless time
  --lease-ttl 5      the monitors' KICK_MONITOR_LEASE_TTL with --instances (seconds)
  --keep             keep the daemon logs even when the run passes

Exits 1 on any missing, duplicated, false, out-of-order or wrong-time transition, any missing or duplicated
notification (with --notify), a daemon crash, or with --instances any stale write accepted or a streamer
without a working owner for longer than the lease TTL + one poll interval.
An offline found by the poll may be up to a poll interval + one pass + the API lag + 1 s late; everything
else within 1 s. The report prints the tolerance.`;

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

/** A non-negative number (seconds, a rate, a percentage) no larger than `max`. */
function number(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0 || value > max) {
    usage(`--${name} expects a number from 0 to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** KICK_API_RATE's range (src/config.ts): 0.1 to 1000 requests per second. */
function rate(text: string | undefined): number {
  const value = number("api-rate", text, 50, 1000);
  if (value < 0.1) usage(`--api-rate expects 0.1 to 1000 requests per second, got ${text}`);
  return value;
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
        "api-rate": { type: "string" },
        "poll-only": { type: "string" },
        "api-lag": { type: "string" },
        drift: { type: "boolean", default: false },
        flicker: { type: "boolean", default: false },
        webhooks: { type: "boolean", default: false },
        notify: { type: "boolean", default: false },
        instances: { type: "string" },
        "lease-ttl": { type: "string" },
        keep: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const durationMs = parseDuration(values.duration);
  if (durationMs === null || durationMs < 10_000) {
    usage(
      `--duration expects e.g. 45s or 10m (at least 10 s), got ${JSON.stringify(values.duration)}`,
    );
  }
  const seed = integer("seed", values.seed, Math.floor(Math.random() * 2 ** 31));
  const instances = integer("instances", values.instances, 1);
  if (values.instances !== undefined && (instances < 2 || instances > 8)) {
    usage(`--instances expects 2 to 8 monitors, got ${JSON.stringify(values.instances)}`);
  }
  if (instances > 1 && values.webhooks) usage("--webhooks cannot be combined with --instances");
  if (instances === 1 && values["lease-ttl"] !== undefined) usage("--lease-ttl needs --instances");
  const leaseTtlSeconds = integer("lease-ttl", values["lease-ttl"], 5);
  if (leaseTtlSeconds < 1) usage(`--lease-ttl expects at least 1 second, got ${leaseTtlSeconds}`);
  const databaseUrl = Deno.env.get("TEST_DATABASE_URL") ?? Deno.env.get("DATABASE_URL") ??
    DEFAULT_DATABASE_URL;
  const options = {
    durationMs,
    seed,
    databaseUrl,
    streamers: integer("streamers", values.streamers, 200),
    pollIntervalSeconds: integer("poll", values.poll, instances > 1 ? 10 : 3),
    offlineGraceSeconds: integer("grace", values.grace, 1),
    apiRatePerSecond: rate(values["api-rate"]),
    pollOnlyPercent: number("poll-only", values["poll-only"], 0, 100),
    apiLagSeconds: number("api-lag", values["api-lag"], 0, 600),
    drift: values.drift,
    flicker: values.flicker,
    webhooks: values.webhooks,
    notify: values.notify,
    keepFiles: values.keep,
    ...(instances > 1 ? { instances, leaseTtlSeconds } : {}),
    log: (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
  };
  console.log(`soak starting at ${new Date().toISOString()} with seed ${seed}`);
  let report;
  try {
    report = await runSoak(options);
  } catch (error) {
    console.log(`FAIL: the soak could not run: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
  for (const line of formatReport(report)) console.log(line);
  Deno.exit(report.ok ? 0 : 1);
}
