/**
 * `webhooks subscribe [SLUG...] | list [--json] | unsubscribe (SLUG... | --all)`: the app's subscriptions to
 * Kick's webhooks (kick-api.md §1.8), which the receiver (KICK_WEBHOOK_LISTEN) then gets deliveries for.
 *
 * Only the monitor's events (livestream.status.updated and livestream.metadata.updated, version 1) are
 * created or deleted; the app's other subscriptions are shown by `list` and never touched. Slugs are resolved
 * through Kick's API, so `list` and the commands given slugs work without the database (also while the monitor
 * runs on the embedded one); `subscribe` without slugs reads the monitored streamers from the database.
 */
import type { Command } from "@commander-js/extra-typings";
import type { Config } from "../config.ts";
import { normaliseSlug } from "../domain/slug.ts";
import type { KickApi } from "../kick/api.ts";
import {
  type EventSubscription,
  MONITOR_EVENTS,
  planSubscriptionSync,
} from "../kick/subscriptions.ts";
import { UsageError, UserFacingError } from "../lib/errors.ts";
import { escapeForTerminal } from "../lib/terminal.ts";
import { isoOrNull } from "./arguments.ts";
import { type CommandContext, formatTable, printJson, printLines } from "./context.ts";
import { createKickClients, withStore } from "../resources.ts";

export function registerWebhookCommands(program: Command, context: () => CommandContext): void {
  const webhooks = program.command("webhooks").description(
    "manage the app's subscriptions to Kick's webhooks (a third source, received on " +
      "KICK_WEBHOOK_LISTEN)",
  );

  webhooks.command("subscribe")
    .description(
      "subscribe streamers (default: every monitored one) to livestream.status.updated and " +
        "livestream.metadata.updated; creates only what is missing and deletes duplicates",
    )
    .argument("[slugs...]", "Kick channel slugs (default: every monitored streamer)")
    .action(async (rawSlugs) => {
      const slugs = [...new Set(rawSlugs.map(normaliseSlug))];
      const config = context().config();
      const { api } = createKickClients(config);
      const targets = slugs.length > 0
        ? await resolveSlugs(api, slugs)
        : await monitoredStreamers(api, config);
      if (targets.size === 0) {
        return printLines("No streamers to subscribe. Add one: kick-monitor streamers add SLUG");
      }
      const listed = await api.listEventSubscriptions();
      const plan = planSubscriptionSync([...targets.values()], listed, { deleteUnwanted: false });
      const slugOf = invert(targets);
      const creating = new Set(plan.create.map((c) => c.broadcasterUserId));
      for (const [slug, id] of targets) {
        if (!creating.has(id)) printLines(`${slug}: already subscribed`);
      }
      for (const create of plan.create) {
        await api.createEventSubscriptions(create.broadcasterUserId, create.events);
        const names = create.events.map((e) => e.name).join(", ");
        printLines(
          `${escapeForTerminal(slugOf.get(create.broadcasterUserId)!)}: subscribed (${names})`,
        );
      }
      if (plan.delete.length > 0) {
        await api.deleteEventSubscriptions(plan.delete);
        printLines(`Deleted ${plan.delete.length} duplicate subscription(s).`);
      }
      if (config.webhook.listen === null) {
        printLines(
          "",
          "Note: KICK_WEBHOOK_LISTEN is off, so the monitor does not receive these deliveries yet. Set it " +
            "(and the app's webhook URL at https://kick.com/settings/developer to your public address " +
            `of ${config.webhook.path}).`,
        );
      }
    });

  webhooks.command("list")
    .description("the app's event subscriptions, as Kick lists them")
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const config = context().config();
      const { api } = createKickClients(config);
      const listed = await api.listEventSubscriptions();
      const slugs = await slugsOf(api, listed);
      const items = listed.map((s) => ({
        id: s.id,
        slug: slugs.get(s.broadcasterUserId) ?? null,
        broadcaster_user_id: s.broadcasterUserId,
        event: s.event,
        version: s.version,
        created_at: isoOrNull(s.createdAt),
      }));
      if (options.json) return printJson(items);
      if (items.length === 0) {
        return printLines("No subscriptions. Subscribe: kick-monitor webhooks subscribe [SLUG...]");
      }
      printLines(formatTable(
        ["STREAMER", "BROADCASTER ID", "EVENT", "VERSION", "CREATED AT", "ID"],
        items.map((i) => [
          escapeForTerminal(i.slug ?? "-"),
          String(i.broadcaster_user_id),
          escapeForTerminal(i.event),
          String(i.version),
          i.created_at ?? "",
          escapeForTerminal(i.id),
        ]),
      ));
    });

  webhooks.command("unsubscribe")
    .description(
      "delete the monitor's subscriptions (status, title/category) of these streamers, or of every " +
        "streamer with --all; other subscriptions of the app are kept",
    )
    .argument("[slugs...]", "Kick channel slugs")
    .option("--all", "every streamer's")
    .action(async (rawSlugs, options) => {
      if (options.all && rawSlugs.length > 0) {
        throw new UsageError("Give slugs or --all, not both");
      }
      if (!options.all && rawSlugs.length === 0) {
        throw new UsageError(
          "Name the streamers to unsubscribe, or use --all (kick-monitor webhooks unsubscribe SLUG...)",
        );
      }
      const slugs = [...new Set(rawSlugs.map(normaliseSlug))];
      const config = context().config();
      const { api } = createKickClients(config);
      const targets = options.all ? null : await resolveSlugs(api, slugs);
      const ours = (await api.listEventSubscriptions()).filter((s) =>
        MONITOR_EVENTS.some((e) => e.name === s.event && e.version === s.version) &&
        (targets === null || [...targets.values()].includes(s.broadcasterUserId))
      );
      await api.deleteEventSubscriptions(ours.map((s) => s.id));
      if (targets === null) {
        return printLines(`Deleted ${ours.length} subscription(s).`);
      }
      for (const [slug, id] of targets) {
        const count = ours.filter((s) => s.broadcasterUserId === id).length;
        printLines(
          count === 0
            ? `${slug}: was not subscribed`
            : `${slug}: unsubscribed (${count} subscription(s))`,
        );
      }
    });
}

/** Broadcaster ids of these slugs, through Kick's API; exit 1 naming every slug Kick does not know. */
async function resolveSlugs(api: KickApi, slugs: string[]): Promise<Map<string, number>> {
  const { channels, notFound } = await api.getChannelsBySlug(slugs);
  if (notFound.length > 0) {
    throw new UserFacingError(
      `Kick has no channel named ${
        notFound.map((s) => JSON.stringify(s)).join(", ")
      }; nothing was changed`,
    );
  }
  return new Map(slugs.map((slug) => [slug, channels.get(slug)!.broadcasterUserId]));
}

/** The monitored streamers' broadcaster ids, from the database (those still unknown through Kick's API). */
async function monitoredStreamers(
  api: KickApi,
  config: Config,
): Promise<Map<string, number>> {
  const records = await withStore(config, (store) => store.listStreamers());
  const ids = new Map<string, number>();
  const unknown: string[] = [];
  for (const record of records) {
    if (record.broadcasterUserId !== null) ids.set(record.slug, record.broadcasterUserId);
    else unknown.push(record.slug);
  }
  if (unknown.length > 0) {
    const { channels } = await api.getChannelsBySlug(unknown);
    for (const slug of unknown) {
      const channel = channels.get(slug);
      if (channel !== undefined) ids.set(slug, channel.broadcasterUserId);
      else printLines(`${escapeForTerminal(slug)}: Kick has no such channel now; skipped`);
    }
  }
  return ids;
}

/** Slugs of the listed broadcasters, through Kick's API (an id Kick no longer knows has none). */
async function slugsOf(api: KickApi, listed: EventSubscription[]): Promise<Map<number, string>> {
  const ids = [...new Set(listed.map((s) => s.broadcasterUserId))];
  if (ids.length === 0) return new Map();
  const { channels } = await api.getChannelsByBroadcasterId(ids);
  return new Map([...channels].map(([id, channel]) => [id, channel.slug.toLowerCase()]));
}

function invert(map: Map<string, number>): Map<number, string> {
  return new Map([...map].map(([slug, id]) => [id, slug]));
}
