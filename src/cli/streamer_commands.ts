/** `streamers add | remove | list | test | history`. */
import type { Command } from "@commander-js/extra-typings";
import { normaliseSlug } from "../domain/slug.ts";
import { learnChannelIds } from "../kick/resolve.ts";
import { UsageError, UserFacingError } from "../lib/errors.ts";
import { isoOrNull, parseIntegerArgument } from "./arguments.ts";
import { type CommandContext, formatTable, printJson, printLines } from "./context.ts";
import { createKickClients, createLegacyLookup, withStore } from "./resources.ts";

export function registerStreamerCommands(program: Command, context: () => CommandContext): void {
  const streamers = program.command("streamers").description("manage the monitored streamers");

  streamers.command("add")
    .description("resolve streamers through Kick's official API and monitor them")
    .argument("<slugs...>", "Kick channel slugs (kick.com/<slug>)")
    .option("--channel-id <n>", "Pusher channel id, when it cannot be learned (one slug only)")
    .action(async (rawSlugs, options) => {
      const slugs = [...new Set(rawSlugs.map(normaliseSlug))];
      const channelId = options.channelId === undefined
        ? undefined
        : parseIntegerArgument("--channel-id", options.channelId, 1, Number.MAX_SAFE_INTEGER);
      if (channelId !== undefined && slugs.length !== 1) {
        throw new UsageError("--channel-id applies to exactly one slug");
      }
      const config = context().config();
      const { api } = createKickClients(config);
      const { channels, notFound } = await api.getChannelsBySlug(slugs);
      const ids = await learnChannelIds([...channels.values()], {
        api,
        legacy: createLegacyLookup(config),
        manualChannelId: channelId,
      });
      const rows = [...channels.entries()].map(([slug, channel]) => ({
        slug,
        broadcasterUserId: channel.broadcasterUserId,
        channelId: ids.get(slug)?.channelId ?? null,
        chatroomId: ids.get(slug)?.chatroomId ?? null,
      }));
      const result = await withStore(config, (store) => store.addStreamers(rows));
      const lines: string[] = [];
      for (const row of rows) {
        const state = result.added.includes(row.slug) ? "added" : "already monitored";
        const realtime = row.channelId === null
          ? "poll only until its channel id is learned"
          : `pusher channel ${row.channelId}`;
        lines.push(`${row.slug}: ${state} (user ${row.broadcasterUserId}, ${realtime})`);
      }
      if (lines.length > 0) printLines(...lines);
      if (notFound.length > 0) {
        throw new UserFacingError(
          `Kick has no channel named ${notFound.map((s) => JSON.stringify(s)).join(", ")}; ` +
            "nothing was added for " + (notFound.length === 1 ? "it" : "them"),
        );
      }
    });

  streamers.command("remove")
    .description("stop monitoring streamers (their recorded history is deleted with them)")
    .argument("<slugs...>", "Kick channel slugs")
    .action(async (rawSlugs) => {
      const slugs = [...new Set(rawSlugs.map(normaliseSlug))];
      const config = context().config();
      const result = await withStore(config, (store) => store.removeStreamers(slugs));
      printLines(
        ...result.removed.map((slug) => `${slug}: removed`),
        ...result.missing.map((slug) => `${slug}: was not monitored`),
      );
    });

  streamers.command("list")
    .description("monitored streamers and their current status")
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const config = context().config();
      const records = await withStore(config, (store) => store.listStreamers());
      const items = records.map((r) => ({
        slug: r.slug,
        broadcaster_user_id: r.broadcasterUserId,
        channel_id: r.channelId,
        status: r.status,
        status_changed_at: isoOrNull(r.statusChangedAt),
        last_checked_at: isoOrNull(r.lastCheckedAt),
        session: r.session === null ? null : {
          started_at: isoOrNull(r.session.startedAt),
          title: r.session.title,
          category: r.session.category,
        },
      }));
      if (options.json) return printJson(items);
      if (items.length === 0) {
        return printLines("No streamers yet. Add one: kick-monitor streamers add SLUG");
      }
      printLines(formatTable(
        ["STREAMER", "STATUS", "SINCE", "CHANNEL ID", "TITLE"],
        items.map((i) => [
          i.slug,
          i.status,
          i.status_changed_at ?? "",
          i.channel_id === null ? "-" : String(i.channel_id),
          i.session?.title ?? "",
        ]),
      ));
    });

  streamers.command("test")
    .description("ask Kick now what it says about a streamer; writes nothing")
    .argument("<slug>", "Kick channel slug")
    .option("--json", "print one JSON document")
    .action(async (rawSlug, options) => {
      const slug = normaliseSlug(rawSlug);
      const config = context().config();
      const { api } = createKickClients(config);
      const { channels } = await api.getChannelsBySlug([slug]);
      const channel = channels.get(slug);
      if (channel === undefined) {
        if (options.json) printJson({ slug, found: false });
        throw new UserFacingError(`Kick has no channel named ${JSON.stringify(slug)}`);
      }
      const ids = await learnChannelIds([channel], { api, legacy: createLegacyLookup(config) });
      const report = {
        slug,
        found: true,
        live: channel.isLive,
        title: channel.title,
        category: channel.category,
        viewers: channel.viewers,
        started_at: isoOrNull(channel.startedAt),
        broadcaster_user_id: channel.broadcasterUserId,
        channel_id: ids.get(slug)?.channelId ?? null,
        chatroom_id: ids.get(slug)?.chatroomId ?? null,
      };
      if (options.json) return printJson(report);
      printLines(
        `Streamer:            ${slug} (found)`,
        `Live:                ${report.live ? "yes" : "no"}`,
        `Title:               ${report.title ?? "-"}`,
        `Category:            ${report.category ?? "-"}`,
        `Viewers:             ${report.viewers ?? "-"}`,
        `Started at:          ${report.started_at ?? "-"}`,
        `Broadcaster user id: ${report.broadcaster_user_id}`,
        `Pusher channel id:   ${
          report.channel_id ?? "unknown (website API blocked; known once live)"
        }`,
      );
    });

  streamers.command("history")
    .description("stream sessions, newest first")
    .argument("<slug>", "Kick channel slug")
    .option("--limit <n>", "at most this many (1-10000)", "20")
    .option("--json", "print one JSON document")
    .action(async (rawSlug, options) => {
      const slug = normaliseSlug(rawSlug);
      const limit = parseIntegerArgument("--limit", options.limit, 1, 10_000);
      const config = context().config();
      const sessions = await withStore(config, async (store) => {
        if ((await store.getStreamer(slug)) === null) {
          throw new UserFacingError(
            `${slug} is not monitored (add it: kick-monitor streamers add ${slug})`,
          );
        }
        return store.listSessions(slug, limit);
      });
      const items = sessions.map((s) => ({
        livestream_id: s.livestreamId,
        started_at: isoOrNull(s.startedAt),
        ended_at: isoOrNull(s.endedAt),
        duration_seconds: s.endedAt
          ? Math.round((s.endedAt.getTime() - s.startedAt.getTime()) / 1000)
          : null,
        title: s.title,
        category: s.category,
        peak_viewers: s.peakViewers,
      }));
      if (options.json) return printJson(items);
      if (items.length === 0) return printLines(`No sessions recorded for ${slug} yet.`);
      printLines(formatTable(
        ["STARTED AT", "ENDED AT", "DURATION", "TITLE", "CATEGORY"],
        items.map((i) => [
          i.started_at ?? "",
          i.ended_at ?? "live",
          i.duration_seconds === null ? "-" : formatDuration(i.duration_seconds),
          i.title ?? "",
          i.category ?? "",
        ]),
      ));
    });
}

function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : `${m}m${String(seconds % 60).padStart(2, "0")}s`;
}
