/**
 * `doctor`: runs the checklist of ./checklist.ts against whatever the configuration points at, in order, each
 * check only when the checks it depends on passed. Reads only: it never migrates or writes to the database, and
 * it asks Kick a handful of questions (one token, one channel lookup, at most one live-streams lookup, one legacy
 * lookup, one Pusher socket).
 */
import { type Config, PUSHER_OFF } from "../config.ts";
import { dataDirProblem } from "../config_usability.ts";
import { embeddedDatabaseExists, openConfiguredStore, type OpenedStore } from "../resources.ts";
import { ConfigError, describeError, UnavailableError, UserFacingError } from "../lib/errors.ts";
import { maskDatabaseUrl } from "../store/db.ts";
import {
  blockingDependency,
  buildReport,
  CHECK_NAMES,
  type CheckName,
  type CheckOutcome,
  type CheckResult,
  type DoctorReport,
  type FailureKind,
  judgeClockSkew,
  resultOf,
  skippedResult,
} from "./checklist.ts";
import { probePusher } from "./pusher_probe.ts";
import * as webhook from "./webhook_checks.ts";
import { type Check, type DoctorOptions, failedFromError, type Findings } from "./findings.ts";
import { checkApi, checkLegacy, checkToken } from "./kick_checks.ts";

export type { DoctorOptions } from "./findings.ts";

/** The channel looked up when no `--slug` is given: long-lived and well known (kick-api.md §3.4). */
export const DEFAULT_DOCTOR_SLUG = "xqc";

/**
 * The Pusher channel subscribed to when the slug's channel id cannot be learned: xqc's `channel.668`, a public
 * channel known to exist (kick-api.md §3.4).
 */
export const FALLBACK_PUSHER_CHANNEL = "channel.668";

/**
 * Every check by name (the order and dependencies are CHECK_NAMES in ./checklist.ts). A group of checks lives
 * in its own file (./kick_checks.ts) and is registered here, one line per check.
 */
const CHECKS: Readonly<Record<CheckName, Check>> = {
  config: checkConfig,
  database: checkDatabase,
  oauth_token: checkToken,
  api_channels: checkApi,
  legacy_lookup: checkLegacy,
  pusher: checkPusher,
  clock: checkClock,
  ...webhook.WEBHOOK_CHECKS,
};

/** Runs every check in order and returns the report. Never throws. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const findings: Findings = {
    slug: options.slug ?? DEFAULT_DOCTOR_SLUG,
    config: null,
    api: null,
    channel: null,
    channelId: null,
    legacyNote: null,
    dates: [],
  };
  const done = new Map<CheckName, CheckResult>();
  for (const name of CHECK_NAMES) {
    const blockedBy = blockingDependency(name, done);
    if (blockedBy !== null) {
      done.set(name, skippedResult(name, blockedBy));
      continue;
    }
    let outcome: CheckOutcome;
    try {
      outcome = await CHECKS[name](findings, options);
    } catch (error) {
      outcome = failedFromError(error);
    }
    done.set(name, resultOf(name, outcome));
  }
  const shown = CHECK_NAMES.filter((name) =>
    !name.startsWith("webhook_") || webhook.webhooksConfigured(findings.config)
  );
  return buildReport(shown.map((name) => done.get(name)!));
}

// ---- configuration ----------------------------------------------------------------------------------------------

async function checkConfig(findings: Findings, options: DoctorOptions): Promise<CheckOutcome> {
  let config: Config;
  try {
    config = options.loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      return {
        status: "failed",
        kind: "config",
        detail: `Invalid configuration: ${error.problems.join("; ")}`,
        fix: "Correct the variables named here, in .env or the environment " +
          "(`kick-monitor config validate` lists every problem, `config show` where each value comes from)",
      };
    }
    throw error;
  }
  const dataDir = await dataDirProblem(config.dataDir);
  if (dataDir !== null) {
    // Every command that opens the data directory (the daemon always does) would fail with this.
    return {
      status: "failed",
      kind: "config",
      detail: dataDir,
      fix:
        "Set KICK_MONITOR_DATA_DIR to a directory this user can write (`kick-monitor config validate` " +
        "checks it)",
    };
  }
  findings.config = config;
  const database = config.databaseUrl
    ? `PostgreSQL at ${maskDatabaseUrl(config.databaseUrl)}`
    : `embedded database in ${config.dataDir}`;
  return {
    status: "ok",
    detail: `Valid: Kick API at ${config.apiUrl}, ${database}`,
  };
}

// ---- database ---------------------------------------------------------------------------------------------------

async function checkDatabase(findings: Findings): Promise<CheckOutcome> {
  const config = findings.config!;
  const backend = config.databaseUrl ? "PostgreSQL" : "embedded database";
  if (!config.databaseUrl && !(await embeddedDatabaseExists(config))) {
    // Opening it would create it: doctor writes nothing.
    return {
      status: "warning",
      detail: `No embedded database in ${config.dataDir} yet`,
      fix:
        "Run `kick-monitor db migrate` to create it (any command that needs the database does too), " +
        "or set DATABASE_URL to use PostgreSQL",
    };
  }
  let opened: OpenedStore;
  try {
    opened = await openConfiguredStore(config, { migrate: false, waitForEmbeddedMs: 2_000 });
  } catch (error) {
    if (error instanceof UnavailableError) {
      return {
        status: "failed",
        kind: "unavailable",
        detail: describeError(error),
        fix: config.databaseUrl
          ? "Check that PostgreSQL runs and that DATABASE_URL (host, port, user, password, database) is right"
          : `Check that ${config.dataDir} is readable and writable by this user`,
      };
    }
    if (!config.databaseUrl && error instanceof UserFacingError) {
      // The embedded database is a single-process database: the running monitor holds it.
      return {
        status: "warning",
        detail: `Not checked: ${describeError(error)}`,
        fix: "See `kick-monitor service status` for the running monitor's database",
      };
    }
    throw error;
  }
  try {
    const health = await opened.store.health();
    const status = await opened.store.migrationStatus();
    const where = `${backend} ${health.serverVersion}, round trip ${health.latencyMs} ms`;
    if (status.edited.length > 0) {
      return {
        status: "failed",
        kind: "failure",
        detail: `Reachable (${where}), but applied migrations were edited since: ${
          status.edited.join(", ")
        }`,
        fix:
          "Restore those files in sql/ to what was applied; add changes as new numbered migrations",
      };
    }
    if (health.pendingMigrations.length > 0) {
      return {
        status: "warning",
        detail: `Reachable (${where}), schema version ${
          health.schemaVersion ?? "none"
        }; ${health.pendingMigrations.length} pending migration(s): ${
          health.pendingMigrations.join(", ")
        }`,
        fix: "Run `kick-monitor db migrate` (every command that writes also migrates on first use)",
      };
    }
    return {
      status: "ok",
      detail: `Reachable (${where}), schema version ${health.schemaVersion}, no pending migrations`,
    };
  } catch (error) {
    if (error instanceof UnavailableError) {
      return {
        status: "failed",
        kind: "unavailable",
        detail: describeError(error),
        fix: "Check that the database server runs and accepts connections",
      };
    }
    throw error;
  } finally {
    await opened.close();
  }
}

// ---- Pusher -----------------------------------------------------------------------------------------------------

async function checkPusher(findings: Findings, options: DoctorOptions): Promise<CheckOutcome> {
  const config = findings.config!;
  if (config.pusherUrl === PUSHER_OFF) {
    return { status: "skipped", detail: "Not checked: KICK_PUSHER_URL=off (no Pusher)" };
  }
  const target = await pusherChannelFor(findings);
  const result = await probePusher({
    url: config.pusherUrl,
    channel: target.channel,
    stepTimeoutMs: options.pusherStepTimeoutMs,
  });
  if (!result.ok) {
    const fixes: Record<FailureKind, string> = {
      config: "Check KICK_PUSHER_URL: Kick may have rotated its Pusher app key (kick-api.md §3.1)",
      unavailable:
        "Check KICK_PUSHER_URL and that outbound WebSocket connections (wss, port 443) are " +
        "allowed; if they are, Pusher is down: try again later",
      failure: "Kick's Pusher refused a public channel: it may have changed how live events are " +
        "delivered (kick-api.md §3.6, §3.8)",
    };
    return {
      status: "failed",
      kind: result.kind,
      detail: `${result.step} failed: ${result.problem}`,
      fix: fixes[result.kind],
    };
  }
  const activity = result.activityTimeoutSeconds === null
    ? "no activity_timeout"
    : `activity_timeout ${result.activityTimeoutSeconds} s`;
  const detail =
    `Connected (socket ${result.socketId}, ${activity}), subscribed to ${result.channel}${target.note}, ping answered in ${result.pingMs} ms`;
  return { status: "ok", detail };
}

/** The channel to subscribe to: the slug's `channel.{id}` when its id is known, else the fallback (and why). */
async function pusherChannelFor(findings: Findings): Promise<{ channel: string; note: string }> {
  if (findings.channelId === null && findings.channel?.isLive && findings.api !== null) {
    // The official live-streams list carries the channel id while the streamer is live (kick-api.md §1.5).
    const live = await findings.api.getLivestreams([findings.channel.broadcasterUserId])
      .catch(() => new Map());
    const stream = live.get(findings.channel.broadcasterUserId);
    if (stream !== undefined) {
      findings.channelId = { id: stream.channelId, source: "the live-streams list" };
    }
  }
  if (findings.channelId !== null) {
    return {
      channel: `channel.${findings.channelId.id}`,
      note: ` (${findings.slug}'s channel id, from ${findings.channelId.source})`,
    };
  }
  const why = [findings.legacyNote, findings.channel?.isLive === false ? "not live" : null]
    .filter((reason) => reason !== null).join(", ");
  return {
    channel: FALLBACK_PUSHER_CHANNEL,
    note: ` instead of ${findings.slug}'s channel, whose id is unknown${why ? ` (${why})` : ""}`,
  };
}

// ---- clock ------------------------------------------------------------------------------------------------------

function checkClock(findings: Findings): Promise<CheckOutcome> {
  return Promise.resolve(judgeClockSkew(findings.dates.at(-1) ?? null));
}
