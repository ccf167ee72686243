/**
 * `doctor`'s webhook lines (issue 15 item 7), shown only when the receiver is configured (KICK_WEBHOOK_LISTEN):
 * - `webhook_key`: the key that verifies Kick's signatures loads — KICK_WEBHOOK_PUBLIC_KEY when pinned, else
 *   Kick's `/public/v1/public-key`, else the documented key (a warning: rotation would not be noticed);
 * - `webhook_receiver`: the receiver, at its public address (KICK_WEBHOOK_PUBLIC_URL), answers a delivery with a
 *   bad signature 401 — proof that Kick's requests reach it and that forgeries do not pass (kick-api.md §1.9.3);
 * - `webhook_subscriptions`: how many `livestream.status.updated` subscriptions the app has (§1.8);
 * - `webhook_deliveries`: when a monitor runs, how long ago its last delivery was accepted, and whether it
 *   flags webhooks as silent.
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { KickApi } from "../kick/api.ts";
import { STATUS_EVENT, WEBHOOK_EVENT_VERSION } from "../kick/webhook_events.ts";
import { resolveWebhookKeys } from "../kick/webhook_key.ts";
import { describeError } from "../lib/errors.ts";
import { lockHolder } from "../lib/file_lock.ts";
import { STATUS_FILE } from "../monitor/monitor_status.ts";
import { WEBHOOK_LAST_DELIVERY_METRIC } from "../monitor/sources/webhook_source.ts";
import { MONITOR_LOCK_FILE } from "../resources.ts";
import { type CheckOutcome, formatDuration } from "./checklist.ts";

/** What the webhook checks need from the earlier checks. */
export interface WebhookCheckFindings {
  config: Config | null;
  /** Set once the token check passed. */
  api: KickApi | null;
}

/** A check of this file. */
export type WebhookCheck = (findings: WebhookCheckFindings) => Promise<CheckOutcome>;

/** How long a probe of the public URL or of the monitor's /metrics may take. */
const PROBE_TIMEOUT_MS = 10_000;
/** A running monitor with no delivery for this long (since its start) gets a warning. */
export const DELIVERY_AGE_WARNING_MS = 24 * 3_600_000;

/** Whether `doctor` shows the webhook lines: only when the receiver is configured. */
export function webhooksConfigured(config: Config | null): boolean {
  return config !== null && config.webhook.listen !== null;
}

/** The key line. */
export async function checkWebhookKey(findings: WebhookCheckFindings): Promise<CheckOutcome> {
  const config = findings.config!;
  const api = findings.api;
  // A ConfigError for an unusable KICK_WEBHOOK_PUBLIC_KEY becomes a `config` failure (exit 78) in doctor.ts.
  const keys = await resolveWebhookKeys({
    configured: config.webhook.publicKey,
    fetchPublicKey: (signal) => {
      if (api === null) throw new Error("no app token to ask Kick with");
      return api.getPublicKey(signal);
    },
  });
  switch (keys.source) {
    case "config":
      return {
        status: "ok",
        detail:
          "KICK_WEBHOOK_PUBLIC_KEY loads (pinned: Kick's key is not fetched, a rotation needs an edit)",
      };
    case "api":
      return { status: "ok", detail: "Kick's key fetched from /public/v1/public-key and loaded" };
    case "documented":
      return {
        status: "warning",
        detail: "Kick's key could not be fetched; the key documented by Kick stands in",
        fix:
          "Check the Official API line above; if Kick rotates its key, deliveries fail until it is " +
          "fetched (or pin it with KICK_WEBHOOK_PUBLIC_KEY)",
      };
  }
}

/** Where Kick posts: KICK_WEBHOOK_PUBLIC_URL as given, or with KICK_WEBHOOK_PATH when it has no path. */
export function publicWebhookUrl(publicUrl: string, path: string): string {
  const url = new URL(publicUrl);
  if (url.pathname === "/" || url.pathname === "") url.pathname = path;
  return url.toString();
}

/** The public URL line: a delivery signed with no valid key must be answered 401. */
export async function checkWebhookReceiver(findings: WebhookCheckFindings): Promise<CheckOutcome> {
  const config = findings.config!;
  if (config.webhook.publicUrl === undefined) {
    return {
      status: "skipped",
      detail:
        "Not checked: KICK_WEBHOOK_PUBLIC_URL is unset (set it to the address Kick posts to, " +
        "e.g. https://monitor.example.com/kick/webhook, for doctor to probe it from outside)",
    };
  }
  const url = publicWebhookUrl(config.webhook.publicUrl, config.webhook.path);
  const body = JSON.stringify({ doctor: "a probe with a bad signature; it must be refused" });
  let status: number;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "Kick-Event-Message-Id": `doctor-${crypto.randomUUID()}`,
        "Kick-Event-Subscription-Id": "doctor",
        "Kick-Event-Signature": btoa("not a signature of anything".repeat(10)),
        "Kick-Event-Message-Timestamp": new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        "Kick-Event-Type": STATUS_EVENT,
        "Kick-Event-Version": WEBHOOK_EVENT_VERSION,
      },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await response.body?.cancel();
    status = response.status;
  } catch (error) {
    return {
      status: "failed",
      kind: "unavailable",
      detail: `${url} could not be reached: ${describeError(error)}`,
      fix:
        "Check that the address forwards to KICK_WEBHOOK_LISTEN (reverse proxy, tunnel, firewall), " +
        "and that the monitor runs",
    };
  }
  if (status === 401) {
    return { status: "ok", detail: `${url} refuses a bad signature with 401, as it should` };
  }
  if (status >= 200 && status < 300) {
    return {
      status: "failed",
      kind: "failure",
      detail: `${url} accepted a delivery with a bad signature (HTTP ${status})`,
      fix: "Something other than kick-monitor's receiver answers there: point the address at " +
        "KICK_WEBHOOK_LISTEN and KICK_WEBHOOK_PATH",
    };
  }
  return {
    status: "failed",
    kind: "failure",
    detail: `${url} answered a bad signature with HTTP ${status}, not 401`,
    fix: status === 404 || status === 405
      ? `The path does not reach the receiver: Kick must post to KICK_WEBHOOK_PATH (${config.webhook.path})`
      : "Check the reverse proxy in front of KICK_WEBHOOK_LISTEN, and that the monitor runs",
  };
}

/** The subscriptions line: how many status subscriptions the app has, for how many broadcasters. */
export async function checkWebhookSubscriptions(
  findings: WebhookCheckFindings,
): Promise<CheckOutcome> {
  const listed = await findings.api!.listEventSubscriptions(AbortSignal.timeout(PROBE_TIMEOUT_MS));
  const status = listed.filter((s) => s.event === STATUS_EVENT);
  const broadcasters = new Set(status.map((s) => s.broadcasterUserId)).size;
  const detail = `${listed.length} event subscription(s); ${STATUS_EVENT} for ${broadcasters} ` +
    `broadcaster(s)`;
  if (broadcasters === 0) {
    return {
      status: "warning",
      detail,
      fix:
        "Start the monitor with KICK_WEBHOOK_LISTEN set (it subscribes every streamer itself), or " +
        "run kick-monitor webhooks subscribe",
    };
  }
  return { status: "ok", detail };
}

/** The running monitor's status file, or null when none runs (or it wrote none yet). */
async function runningMonitor(config: Config): Promise<Record<string, unknown> | null> {
  const pid = await lockHolder(join(config.dataDir, MONITOR_LOCK_FILE));
  if (pid === null) return null;
  try {
    return JSON.parse(await Deno.readTextFile(join(config.dataDir, STATUS_FILE)));
  } catch {
    return {};
  }
}

/** The last delivery's time from the running monitor's /metrics (ms; 0 before any), or why not. */
async function lastDeliveryAt(config: Config): Promise<number | string> {
  if (config.http === null) return "KICK_MONITOR_HTTP is off, so its /metrics cannot be read";
  const host = config.http.hostname === "0.0.0.0" || config.http.hostname === "::"
    ? "127.0.0.1"
    : config.http.hostname;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${config.http.port}/metrics`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const text = await response.text();
    const match = new RegExp(`^${WEBHOOK_LAST_DELIVERY_METRIC} ([0-9.e+]+)$`, "m").exec(text);
    if (match === null) return `its /metrics (${url}) has no ${WEBHOOK_LAST_DELIVERY_METRIC}`;
    return Number(match[1]) * 1000;
  } catch (error) {
    return `its /metrics (${url}) could not be read: ${describeError(error)}`;
  }
}

/** The deliveries line: the running monitor's last accepted delivery, and its silence flag. */
export async function checkWebhookDeliveries(
  findings: WebhookCheckFindings,
  now: () => number = Date.now,
): Promise<CheckOutcome> {
  const config = findings.config!;
  const status = await runningMonitor(config);
  if (status === null) {
    return {
      status: "skipped",
      detail: "Not checked: no monitor is running on this data directory",
    };
  }
  const sources = status.sources as Record<string, { detail?: string }> | undefined;
  const source = sources?.webhook;
  if (sources !== undefined && source === undefined) {
    return {
      status: "warning",
      detail:
        "The running monitor has no webhook receiver (started before KICK_WEBHOOK_LISTEN was set?)",
      fix: "Restart the monitor to start the receiver",
    };
  }
  const silent = source?.detail?.startsWith("warning") === true ? source.detail : null;
  const last = await lastDeliveryAt(config);
  if (typeof last === "string") {
    return silent === null
      ? { status: "skipped", detail: `Not checked: a monitor runs, but ${last}` }
      : { status: "warning", detail: silent, fix: SILENT_FIX };
  }
  const startedAt = typeof status.started_at === "string" ? Date.parse(status.started_at) : NaN;
  if (last === 0) {
    const since = Number.isNaN(startedAt) ? "" : ` (started ${ago(now() - startedAt)} ago)`;
    const detail = `No delivery accepted since the monitor started${since}`;
    if (silent !== null) {
      return { status: "warning", detail: `${detail}; ${silent}`, fix: SILENT_FIX };
    }
    if (!Number.isNaN(startedAt) && now() - startedAt > DELIVERY_AGE_WARNING_MS) {
      return { status: "warning", detail, fix: SILENT_FIX };
    }
    return { status: "ok", detail: `${detail}: no streamer has changed yet, perhaps` };
  }
  const detail = `Last delivery accepted ${ago(now() - last)} ago (${
    new Date(last).toISOString()
  })`;
  if (silent !== null) {
    return { status: "warning", detail: `${detail}; ${silent}`, fix: SILENT_FIX };
  }
  return { status: "ok", detail };
}

const SILENT_FIX = "Check the app's webhook URL and that webhooks are enabled at " +
  "https://kick.com/settings/developer, and the webhook_receiver line (KICK_WEBHOOK_PUBLIC_URL)";

/** The checks by name, each skipped (and left out of the report by doctor.ts) when webhooks are off. */
export const WEBHOOK_CHECKS: Readonly<
  Record<
    "webhook_key" | "webhook_receiver" | "webhook_subscriptions" | "webhook_deliveries",
    WebhookCheck
  >
> = {
  webhook_key: onlyConfigured(checkWebhookKey),
  webhook_receiver: onlyConfigured(checkWebhookReceiver),
  webhook_subscriptions: onlyConfigured(checkWebhookSubscriptions),
  webhook_deliveries: onlyConfigured((findings) => checkWebhookDeliveries(findings)),
};

function onlyConfigured(check: WebhookCheck): WebhookCheck {
  return (findings) =>
    webhooksConfigured(findings.config)
      ? check(findings)
      : Promise.resolve({ status: "skipped", detail: "Not checked: KICK_WEBHOOK_LISTEN is off" });
}

function ago(ms: number): string {
  return formatDuration(Math.max(0, ms) / 1000);
}
