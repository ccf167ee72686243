/**
 * `doctor`'s checklist as data: the checks in order, what each depends on, their results, the summary, the exit code
 * and how a report is rendered. Also the pure verdicts (token lifetime, clock skew). No I/O: src/doctor/doctor.ts
 * runs the checks and feeds their results in here.
 */
import { escapeForTerminal } from "../lib/terminal.ts";
import { ExitCode, type ExitCodeValue } from "../lib/errors.ts";

/** Every check, in the order they run and are shown. */
export const CHECK_NAMES = [
  "config",
  "database",
  "oauth_token",
  "api_channels",
  "legacy_lookup",
  "pusher",
  "clock",
  // Shown only when KICK_WEBHOOK_LISTEN is set (webhook_checks.ts).
  "webhook_key",
  "webhook_receiver",
  "webhook_subscriptions",
  "webhook_deliveries",
] as const;

export type CheckName = typeof CHECK_NAMES[number];

/** The titles shown in the text report. */
export const CHECK_TITLES: Readonly<Record<CheckName, string>> = {
  config: "Configuration",
  database: "Database",
  oauth_token: "OAuth app token",
  api_channels: "Official API",
  legacy_lookup: "Website API (legacy)",
  pusher: "Pusher socket",
  clock: "Clock",
  webhook_key: "Webhook key",
  webhook_receiver: "Webhook public URL",
  webhook_subscriptions: "Webhook subscriptions",
  webhook_deliveries: "Webhook deliveries",
};

/**
 * What each check needs to have passed (ok or warning) before it can run. The Pusher check does not need the API:
 * without a channel id it subscribes to a known public channel instead. The clock check reads the `Date` header of
 * whichever Kick answer came, so it only needs the configuration.
 */
export const CHECK_DEPENDENCIES: Readonly<Record<CheckName, readonly CheckName[]>> = {
  config: [],
  database: ["config"],
  oauth_token: ["config"],
  api_channels: ["oauth_token"],
  legacy_lookup: ["config"],
  pusher: ["config"],
  clock: ["config"],
  webhook_key: ["config"],
  webhook_receiver: ["config"],
  webhook_subscriptions: ["oauth_token"],
  webhook_deliveries: ["config"],
};

export type CheckStatus = "ok" | "warning" | "failed" | "skipped";

/**
 * Why a check failed, which decides the exit code: `config` (bad settings or rejected credentials, 78),
 * `unavailable` (a service cannot be reached, 69) or `failure` (it answered, but wrongly, 1).
 */
export type FailureKind = "config" | "unavailable" | "failure";

/** The outcome of one check; `skipped` when it found nothing to check (e.g. no answer to read a clock from). */
export type CheckOutcome =
  | { status: "ok"; detail: string }
  | { status: "warning"; detail: string; fix: string }
  | { status: "failed"; detail: string; fix: string; kind: FailureKind }
  | { status: "skipped"; detail: string };

/** One line of the report. */
export interface CheckResult {
  name: CheckName;
  title: string;
  status: CheckStatus;
  /** What was found, in a sentence. */
  detail: string;
  /** What to do about it; null when the check is ok. */
  fix: string | null;
  /** Why it failed; null unless failed. */
  kind: FailureKind | null;
}

/** Counts by status, and the exit code of the run. */
export interface CheckSummary {
  ok: number;
  warning: number;
  failed: number;
  skipped: number;
  exit_code: ExitCodeValue;
}

/** The whole report: what `doctor --json` prints. */
export interface DoctorReport {
  checks: CheckResult[];
  summary: CheckSummary;
}

/** The result of a check that ran. */
export function resultOf(name: CheckName, outcome: CheckOutcome): CheckResult {
  return {
    name,
    title: CHECK_TITLES[name],
    status: outcome.status,
    detail: outcome.detail,
    fix: outcome.status === "warning" || outcome.status === "failed" ? outcome.fix : null,
    kind: outcome.status === "failed" ? outcome.kind : null,
  };
}

/**
 * The dependency of `name` that stops it from running (failed or itself skipped), or null when it may run.
 * `done` holds the results so far; a dependency without a result blocks too (checks run in CHECK_NAMES order).
 */
export function blockingDependency(
  name: CheckName,
  done: ReadonlyMap<CheckName, CheckResult>,
): CheckName | null {
  for (const dependency of CHECK_DEPENDENCIES[name]) {
    const result = done.get(dependency);
    if (result === undefined || result.status === "failed" || result.status === "skipped") {
      return dependency;
    }
  }
  return null;
}

/** The result of a check that did not run because `blockedBy` failed or was skipped. */
export function skippedResult(name: CheckName, blockedBy: CheckName): CheckResult {
  return {
    name,
    title: CHECK_TITLES[name],
    status: "skipped",
    detail: `Not checked: needs "${CHECK_TITLES[blockedBy]}" (${blockedBy}) to pass first`,
    fix: `Fix ${blockedBy} first`,
    kind: null,
  };
}

/**
 * The exit code of a run: 0 when nothing failed; else 78 when a failure is configuration (fix that first, the
 * rest may follow from it), else 69 when a service is unreachable, else 1.
 */
export function exitCodeOf(checks: readonly CheckResult[]): ExitCodeValue {
  const kinds = new Set(checks.filter((c) => c.status === "failed").map((c) => c.kind));
  if (kinds.size === 0) return ExitCode.ok;
  if (kinds.has("config")) return ExitCode.config;
  if (kinds.has("unavailable")) return ExitCode.unavailable;
  return ExitCode.failure;
}

/** The report of a finished run. */
export function buildReport(checks: CheckResult[]): DoctorReport {
  const count = (status: CheckStatus) => checks.filter((c) => c.status === status).length;
  return {
    checks,
    summary: {
      ok: count("ok"),
      warning: count("warning"),
      failed: count("failed"),
      skipped: count("skipped"),
      exit_code: exitCodeOf(checks),
    },
  };
}

const STATUS_LABELS: Readonly<Record<CheckStatus, string>> = {
  ok: "ok",
  warning: "warning",
  failed: "FAILED",
  skipped: "skipped",
};

/** The text report: one line per check, its fix indented below, then the summary. */
export function renderReport(report: DoctorReport): string {
  const titleWidth = Math.max(...report.checks.map((c) => c.title.length));
  const lines: string[] = [];
  for (const check of report.checks) {
    // Details quote what Kick and the network answered: escaped, like every outside string on a terminal.
    lines.push(
      `${STATUS_LABELS[check.status].padEnd(8)} ${check.title.padEnd(titleWidth)}  ${
        escapeForTerminal(check.detail)
      }`,
    );
    if (check.fix !== null && check.status !== "skipped") {
      lines.push(`${" ".repeat(8 + 1 + titleWidth + 2)}fix: ${escapeForTerminal(check.fix)}`);
    }
  }
  const { ok, warning, failed, skipped } = report.summary;
  lines.push("");
  lines.push(`${ok} ok, ${warning} warning(s), ${failed} failed, ${skipped} skipped`);
  return lines.join("\n");
}

/** A one-line reason for stderr when the run failed, e.g. `2 checks failed: oauth_token, pusher`. */
export function failureLine(report: DoctorReport): string | null {
  const failed = report.checks.filter((c) => c.status === "failed").map((c) => c.name);
  if (failed.length === 0) return null;
  return `doctor: ${failed.length} check${failed.length === 1 ? "" : "s"} failed: ${
    failed.join(", ")
  }`;
}

// ---- Verdicts ---------------------------------------------------------------------------------------------------

/** Below this an app token is suspiciously short-lived (Kick has issued 60-day tokens, kick-api.md §1.2). */
export const SHORT_TOKEN_LIFETIME_SECONDS = 300;

/** "60 days", "2 h 5 min", "45 s": a lifetime for people. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 2 * 86_400) return `${Math.round(s / 86_400)} days`;
  if (s >= 3_600) {
    const minutes = Math.floor((s % 3_600) / 60);
    return `${Math.floor(s / 3_600)} h${minutes > 0 ? ` ${minutes} min` : ""}`;
  }
  if (s >= 60) return `${Math.floor(s / 60)} min`;
  return `${s} s`;
}

/** The token line: ok with its lifetime, or a warning when the lifetime is unknown or very short. */
export function judgeTokenLifetime(expiresInSeconds: number | null): CheckOutcome {
  if (expiresInSeconds === null) {
    return {
      status: "warning",
      detail: "App access token obtained, but its lifetime is unknown",
      fix: "Nothing to do now; the monitor mints a new token whenever Kick refuses the old one",
    };
  }
  const lifetime = `${formatDuration(expiresInSeconds)} (expires_in ${
    Math.round(expiresInSeconds)
  } s)`;
  if (expiresInSeconds < SHORT_TOKEN_LIFETIME_SECONDS) {
    return {
      status: "warning",
      detail: `App access token obtained, but it is valid for only ${lifetime}`,
      fix:
        "Nothing to do for the monitor (it mints tokens as needed), but expect many token requests; " +
        "Kick's app tokens usually last weeks (kick-api.md §1.2)",
    };
  }
  return { status: "ok", detail: `App access token obtained, valid for ${lifetime}` };
}

/** Skew above which the clock line is a warning. */
export const CLOCK_SKEW_WARNING_MS = 5_000;

/** One Kick answer's `Date` header, and when the request left and the answer came (local clock, ms). */
export interface DateSample {
  /** The `Date` header, as sent. */
  date: string;
  sentAt: number;
  receivedAt: number;
  /** The host that answered, e.g. `api.kick.com`. */
  host: string;
}

/** The skew estimate: server minus local time, and how precise the estimate is (both in ms). */
export interface ClockSkew {
  skewMs: number;
  uncertaintyMs: number;
}

/**
 * Estimates how far the local clock is from the server's. The `Date` header has a resolution of one second and was
 * written somewhere between sending and receiving, so the server time is taken as the middle of its second and
 * compared with the middle of the round trip; the uncertainty is half a second plus half the round trip.
 * Null when the header is not a date.
 */
export function estimateClockSkew(sample: DateSample): ClockSkew | null {
  const serverSecond = Date.parse(sample.date);
  if (Number.isNaN(serverSecond)) return null;
  const roundTrip = Math.max(0, sample.receivedAt - sample.sentAt);
  const localMiddle = sample.sentAt + roundTrip / 2;
  return {
    skewMs: Math.round(serverSecond + 500 - localMiddle),
    uncertaintyMs: Math.round(500 + roundTrip / 2),
  };
}

/** The clock line: a warning when the local clock is off by more than CLOCK_SKEW_WARNING_MS beyond doubt. */
export function judgeClockSkew(sample: DateSample | null): CheckOutcome {
  if (sample === null) {
    return { status: "skipped", detail: "Not checked: no answer from Kick carried a Date header" };
  }
  const skew = estimateClockSkew(sample);
  if (skew === null) {
    return {
      status: "warning",
      detail: `Could not measure: ${sample.host} answered with an unreadable Date header ${
        JSON.stringify(sample.date)
      }`,
      fix:
        "Check that the clock is synchronised (timedatectl, chrony); event times come from this clock",
    };
  }
  const seconds = (ms: number) => (ms / 1000).toFixed(1);
  const direction = skew.skewMs > 0 ? "behind" : "ahead of";
  const measured =
    `This clock is ${seconds(Math.abs(skew.skewMs))} s ${direction} ${sample.host} ` +
    `(± ${seconds(skew.uncertaintyMs)} s, from its Date header)`;
  if (Math.abs(skew.skewMs) - skew.uncertaintyMs > CLOCK_SKEW_WARNING_MS) {
    return {
      status: "warning",
      detail: measured,
      fix:
        "Synchronise the clock (timedatectl set-ntp true, or chrony): online and offline times are " +
        "recorded from it",
    };
  }
  return { status: "ok", detail: measured };
}
