/**
 * `notify add | list | remove | test | log` (interface.md "Notifications"). Every secret of a target (a
 * Discord or bot token, an ntfy password, an Apprise key, a webhook secret) is registered with the one
 * redaction before anything is printed or logged, and shown as `***` in every output.
 */
import type { Command } from "@commander-js/extra-typings";
import { normaliseSlug } from "../domain/slug.ts";
import {
  describeError,
  ExitCode,
  UnavailableError,
  UsageError,
  UserFacingError,
} from "../lib/errors.ts";
import { addSecret, MASK, redact } from "../lib/redact.ts";
import { escapeForTerminal } from "../lib/terminal.ts";
import { formatLatency } from "../notify/duration.ts";
import { formatQuietHours, parseQuietHours, validateTimeZone } from "../notify/quiet_hours.ts";
import { SERVICES } from "../notify/services/mod.ts";
import { webhookSecretKey } from "../notify/services/webhook.ts";
import {
  maskTargetUrl,
  type ParsedTarget,
  parseKind,
  parseTargetUrl,
  TargetUrlError,
} from "../notify/target_url.ts";
import { parseTemplate, TemplateError } from "../notify/template.ts";
import {
  EVENT_KINDS,
  type EventKind,
  type NotificationTarget,
  type QuietHours,
} from "../notify/types.ts";
import { sendNow } from "../notify/send.ts";
import { insertTestDelivery, markDelivered, markFailed } from "../store/notifications.ts";
import { addTarget, getTarget, listTargets, removeTarget } from "../store/notification_targets.ts";
import { listDeliveries } from "../store/delivery_log.ts";
import type { Store } from "../store/store.ts";
import { isoOrNull, parseIntegerArgument } from "./arguments.ts";
import { type CommandContext, formatTable, printJson, printLines } from "./context.ts";
import { withStore } from "../resources.ts";

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function registerNotifyCommands(program: Command, context: () => CommandContext): void {
  const notify = program.command("notify").description(
    "tell people when a streamer goes live: Discord, Slack, Telegram, ntfy, signed webhooks, Apprise",
  );

  notify.command("add")
    .description(
      "add a notification target; the kind comes from the URL (discord/slack https URLs, tgram://, " +
        "ntfy://, ntfys://, json://, jsons://, apprise://, apprises://, console://)",
    )
    .argument("<name>", "a name for the target (letters, digits, . _ -)")
    .argument("<url>", "where to send; holds secrets, which are shown as *** from now on")
    .option("--kind <kind>", "force the kind, for a self-hosted or test endpoint at an http(s) URL")
    .option("--streamers <slugs>", "only these monitored streamers (comma-separated); default: all")
    .option("--events <kinds>", "online,offline,title", "online,offline")
    .option("--mention <text>", "who to ping, e.g. <@&ROLE_ID> or @here on Discord")
    .option(
      "--template-online <text>",
      "message text; fields {slug} {title} {category} {url} " +
        "{started_at} {duration} {viewers}",
    )
    .option("--template-offline <text>", "message text when the stream ends")
    .option("--quiet-hours <HH:MM-HH:MM>", "hold messages during these hours, sent when they end")
    .option("--timezone <zone>", "IANA time zone of --quiet-hours (default UTC)")
    .option("--secret <whsec_…>", "Standard Webhooks signing secret (json:// and jsons:// targets)")
    .action(async (name, url, options) => {
      if (!NAME_PATTERN.test(name)) {
        throw new UsageError(
          `NAME must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${
            JSON.stringify(name)
          }`,
        );
      }
      const parsed = parseUrlArgument(url, options.kind);
      if (options.secret !== undefined) addSecret(options.secret);
      const events = parseEvents(options.events);
      const templateOnline = checkTemplate("--template-online", options.templateOnline);
      const templateOffline = checkTemplate("--template-offline", options.templateOffline);
      let quietHours: QuietHours | null = null;
      let timezone: string | null = null;
      try {
        if (options.quietHours !== undefined) quietHours = parseQuietHours(options.quietHours);
        if (options.timezone !== undefined) timezone = validateTimeZone(options.timezone);
      } catch (error) {
        throw new UsageError(describeError(error));
      }
      if (timezone !== null && quietHours === null) {
        throw new UsageError("--timezone applies to --quiet-hours; give both or neither");
      }
      const secret = options.secret ?? null;
      if (parsed.kind === "webhook") {
        if (secret === null) {
          throw new UsageError(
            "A json:// or jsons:// target needs --secret whsec_… to sign its requests " +
              "(Standard Webhooks; make one with: echo whsec_$(openssl rand -base64 32))",
          );
        }
        try {
          webhookSecretKey(secret);
        } catch (error) {
          throw new UsageError(describeError(error));
        }
      } else if (secret !== null) {
        throw new UsageError(
          `--secret applies to json:// and jsons:// targets, not ${parsed.kind}`,
        );
      }
      const slugs = options.streamers === undefined ? null : parseSlugs(options.streamers);
      const config = context().config();
      const added = await withStore(config, async (store) => {
        const streamerIds = slugs === null ? null : await monitoredIds(store, slugs);
        return await addTarget(store.db, {
          name,
          kind: parsed.kind,
          url: url.trim(),
          streamerIds,
          events,
          mention: options.mention ?? null,
          templateOnline,
          templateOffline,
          quietHours,
          timezone,
          secret,
        });
      });
      printLines(
        `Added ${added.kind} target ${added.name} (${parsed.masked}): ${
          added.events.join(", ")
        } of ${slugs === null ? "every streamer" : slugs.join(", ")}` +
          (quietHours === null
            ? ""
            : `, quiet ${formatQuietHours(quietHours)} ${timezone ?? "UTC"}`),
        `Try it: kick-monitor notify test ${added.name}`,
      );
    });

  notify.command("list")
    .description('notification targets, with every secret in a URL shown as "***"')
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const config = context().config();
      const { targets, slugs } = await withStore(config, async (store) => ({
        targets: await listTargets(store.db),
        slugs: new Map((await store.listStreamers()).map((s) => [s.id, s.slug])),
      }));
      registerSecrets(targets);
      const items = targets.map((t) => targetDocument(t, slugs));
      if (options.json) return printJson(items);
      if (items.length === 0) {
        return printLines("No notification targets. Add one: kick-monitor notify add NAME URL");
      }
      printLines(formatTable(
        ["NAME", "KIND", "URL", "EVENTS", "STREAMERS", "QUIET HOURS"],
        items.map((i) => [
          escapeForTerminal(i.name),
          i.kind,
          escapeForTerminal(i.url),
          i.events.join(","),
          i.streamers === null ? "all" : i.streamers.join(","),
          i.quiet_hours === null ? "" : `${i.quiet_hours} ${i.timezone ?? "UTC"}`,
        ]),
      ));
    });

  notify.command("remove")
    .description("remove a notification target and its delivery log")
    .argument("<name>", "the target's name")
    .action(async (name) => {
      const config = context().config();
      const removed = await withStore(config, (store) => removeTarget(store.db, name));
      if (!removed) throw new UserFacingError(noTarget(name));
      printLines(`${name}: removed`);
    });

  notify.command("test")
    .description(
      "send one test message now: exit 0 delivered, 69 unreachable (or asked to wait), 1 refused",
    )
    .argument("<name>", "the target's name")
    .option("--streamer <slug>", "the streamer the message names (default: the target's first)")
    .action(async (name, options) => {
      const slugArgument = options.streamer === undefined
        ? undefined
        : normaliseSlug(options.streamer);
      const config = context().config();
      await withStore(config, async (store) => {
        const target = await getTarget(store.db, name);
        if (target === null) throw new UserFacingError(noTarget(name));
        registerSecrets([target]);
        const parsed = parseTargetUrl(target.url, target.kind);
        const streamers = await store.listStreamers();
        const streamer = slugArgument !== undefined
          ? streamers.find((s) => s.slug === slugArgument)
          : streamers.find((s) => target.streamerIds?.includes(s.id) ?? true);
        const slug = slugArgument ?? streamer?.slug ?? "kick-monitor";
        const now = new Date();
        const id = await insertTestDelivery(store.db, target, {
          slug,
          streamerId: streamer?.id ?? null,
          now,
          workerId: `notify-test-${Deno.pid}`,
        });
        const result = await sendNow(SERVICES[target.kind], {
          target,
          parsed,
          notification: {
            deliveryId: id,
            kind: "test",
            slug,
            title: "Test notification",
            category: null,
            occurredAt: now,
            startedAt: now,
            viewers: null,
            editRef: null,
          },
        });
        if (result.ok) {
          await markDelivered(store.db, id, { messageRef: result.messageRef, at: new Date() });
          printLines(`Delivered a test message to ${target.name} (${parsed.masked})`);
          return;
        }
        const reason = redact(result.reason);
        await markFailed(store.db, id, reason);
        const what = `${target.name} (${parsed.masked})`;
        // Unreachable, rate limited or a server error: it may work later (69); a refusal will not (1).
        if (result.retryable) {
          throw new UnavailableError(`Could not deliver a test message to ${what}: ${reason}`);
        }
        throw new UserFacingError(
          `${what} refused the test message: ${reason}`,
          ExitCode.failure,
        );
      });
    });

  notify.command("log")
    .description("deliveries, newest first")
    .option("--json", "print one JSON document")
    .option("--target <name>", "only this target's deliveries")
    .option("--limit <n>", "at most this many (1-100000)", "50")
    .action(async (options) => {
      const limit = parseIntegerArgument("--limit", options.limit, 1, 100_000);
      const config = context().config();
      const rows = await withStore(config, async (store) => {
        const targets = await listTargets(store.db);
        registerSecrets(targets);
        if (options.target !== undefined && !targets.some((t) => t.name === options.target)) {
          throw new UserFacingError(noTarget(options.target));
        }
        return await listDeliveries(store.db, { target: options.target, limit });
      });
      const items = rows.map((d) => ({
        id: d.id,
        target: d.target,
        event_id: d.eventId,
        slug: d.slug,
        kind: d.kind,
        state: d.state,
        attempts: d.attempts,
        last_error: d.lastError === null ? null : redact(d.lastError),
        delivered_at: isoOrNull(d.deliveredAt),
        message_ref: d.messageRef,
        // From the event being recorded (the outbox row commits with it) to the service accepting it.
        latency_ms: d.deliveredAt === null
          ? null
          : Math.max(0, d.deliveredAt.getTime() - d.createdAt.getTime()),
      }));
      if (options.json) return printJson(items);
      if (items.length === 0) return printLines("No notifications sent yet.");
      printLines(formatTable(
        [
          "ID",
          "TARGET",
          "STREAMER",
          "KIND",
          "STATE",
          "ATTEMPTS",
          "DELIVERED AT",
          "LATENCY",
          "LAST ERROR",
        ],
        items.map((d, i) => [
          String(d.id),
          escapeForTerminal(d.target),
          escapeForTerminal(d.slug),
          d.kind,
          d.state === "pending" && rows[i].heldUntil !== null &&
            rows[i].nextAttemptAt.getTime() > Date.now()
            ? "held (quiet hours)"
            : d.state,
          String(d.attempts),
          d.delivered_at ?? "",
          d.latency_ms === null ? "" : formatLatency(d.latency_ms),
          escapeForTerminal(d.last_error ?? ""),
        ]),
      ));
    });
}

function noTarget(name: string): string {
  return `No notification target named ${JSON.stringify(name)} (see: kick-monitor notify list)`;
}

/** Parses URL and `--kind`, registering the URL's secrets first; bad input exits 2. */
function parseUrlArgument(url: string, kind: string | undefined): ParsedTarget {
  try {
    const parsed = parseTargetUrl(url, kind === undefined ? undefined : parseKind(kind));
    for (const secret of parsed.secrets) addSecret(secret);
    return parsed;
  } catch (error) {
    if (error instanceof TargetUrlError) throw new UsageError(error.message);
    throw error;
  }
}

function parseEvents(text: string): EventKind[] {
  const events: EventKind[] = [];
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const kind = EVENT_KINDS.find((k) => k === part.toLowerCase());
    if (kind === undefined) {
      throw new UsageError(
        `--events must list ${EVENT_KINDS.join(", ")} (comma-separated), got ${
          JSON.stringify(part)
        }`,
      );
    }
    if (!events.includes(kind)) events.push(kind);
  }
  if (events.length === 0) throw new UsageError("--events must name at least one event");
  return events;
}

function checkTemplate(option: string, text: string | undefined): string | null {
  if (text === undefined) return null;
  try {
    parseTemplate(text, option);
  } catch (error) {
    if (error instanceof TemplateError) throw new UsageError(error.message);
    throw error;
  }
  return text;
}

function parseSlugs(text: string): string[] {
  const slugs = [...new Set(text.split(",").map((s) => s.trim()).filter((s) => s !== ""))];
  if (slugs.length === 0) throw new UsageError("--streamers must name at least one streamer");
  return slugs.map(normaliseSlug);
}

/** The ids of monitored streamers; a slug that is not monitored is bad input (exit 2). */
async function monitoredIds(store: Store, slugs: string[]): Promise<number[]> {
  const ids: number[] = [];
  const missing: string[] = [];
  for (const slug of slugs) {
    const streamer = await store.getStreamer(slug);
    if (streamer === null) missing.push(slug);
    else ids.push(streamer.id);
  }
  if (missing.length > 0) {
    throw new UsageError(
      `--streamers names ${missing.map((s) => JSON.stringify(s)).join(", ")}, not monitored ` +
        `(add first: kick-monitor streamers add ${missing.join(" ")})`,
    );
  }
  return ids;
}

/** Registers every secret of the targets with the one redaction, before anything about them is printed. */
function registerSecrets(targets: NotificationTarget[]): void {
  for (const target of targets) {
    addSecret(target.secret);
    try {
      for (const secret of parseTargetUrl(target.url, target.kind).secrets) addSecret(secret);
    } catch {
      // A URL that no longer parses is shown by maskTargetUrl without its path.
    }
  }
}

function targetDocument(target: NotificationTarget, slugs: Map<number, string>) {
  return {
    name: target.name,
    kind: target.kind,
    url: maskTargetUrl(target.url, target.kind),
    streamers: target.streamerIds === null
      ? null
      : target.streamerIds.map((id) => slugs.get(id) ?? `#${id} (removed)`),
    events: target.events,
    mention: target.mention,
    template_online: target.templateOnline,
    template_offline: target.templateOffline,
    quiet_hours: target.quietHours === null ? null : formatQuietHours(target.quietHours),
    timezone: target.timezone,
    secret: target.secret === null ? null : MASK,
    created_at: isoOrNull(target.createdAt),
  };
}
