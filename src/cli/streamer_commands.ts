/** `streamers add | remove | list | test | history`. */
import type { Command } from "@commander-js/extra-typings";
import type { Config } from "../config.ts";
import { normaliseSlug } from "../domain/slug.ts";
import type { KickApi } from "../kick/api.ts";
import type { KickChannel } from "../kick/channels.ts";
import type { LegacyLookup } from "../kick/legacy.ts";
import { judgeManualChannelId, learnChannelIds } from "../kick/resolve.ts";
import { describeError, ExitCode, exitCodeOf, UsageError, UserFacingError } from "../lib/errors.ts";
import { sessionDocument, streamerDocument } from "../domain/documents.ts";
import { escapeForTerminal } from "../lib/terminal.ts";
import type { Store } from "../store/store.ts";
import { isoOrNull, parseIntegerArgument } from "./arguments.ts";
import { type CommandContext, formatTable, printJson, printLines } from "./context.ts";
import { ProgressLine } from "./progress.ts";
import {
  addStreamersFromKick,
  createKickClients,
  createLegacyLookup,
  withStore,
} from "../resources.ts";

export function registerStreamerCommands(program: Command, context: () => CommandContext): void {
  const streamers = program.command("streamers").description("manage the monitored streamers");

  streamers.command("add")
    .description(
      "resolve streamers through Kick's official API and monitor them; each batch is stored and " +
        "printed as it is resolved, and Ctrl-C keeps what was stored (exit 130)",
    )
    .argument("<slugs...>", "Kick channel slugs (kick.com/<slug>)")
    .option(
      "--channel-id <n>",
      "Pusher channel id, when it cannot be learned (one slug only; not the broadcaster user id, " +
        "and not one another streamer has)",
    )
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
      const legacy = createLegacyLookup(config);
      const notFound = channelId === undefined
        ? await addInBatches(slugs, { config, api, legacy })
        : await addWithChannelId(slugs[0], channelId, { config, api });
      if (notFound.length > 0) {
        throw new UserFacingError(
          `Kick has no channel named ${notFound.map((s) => JSON.stringify(s)).join(", ")}; ` +
            "nothing was added for " + (notFound.length === 1 ? "it" : "them"),
        );
      }
    });

  streamers.command("remove")
    .description(
      "stop monitoring streamers and delete their recorded history; asks on a terminal, " +
        "otherwise needs --yes",
    )
    .argument("<slugs...>", "Kick channel slugs")
    .option("--yes", "delete without asking (scripts)")
    .action(async (rawSlugs, options) => {
      const slugs = [...new Set(rawSlugs.map(normaliseSlug))];
      const config = context().config();
      const result = await withStore(config, async (store) => {
        const present: string[] = [];
        for (const slug of slugs) if ((await store.getStreamer(slug)) !== null) present.push(slug);
        if (present.length > 0 && !options.yes) confirmRemoval(present);
        return await store.removeStreamers(slugs);
      });
      printLines(
        ...result.removed.map((slug) => `${slug}: removed, with its history`),
        ...result.missing.map((slug) => `${slug}: was not monitored`),
      );
    });

  streamers.command("list")
    .description("monitored streamers and their current status")
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const config = context().config();
      const records = await withStore(config, (store) => store.listStreamers());
      const items = records.map(streamerDocument);
      if (options.json) return printJson(items);
      if (items.length === 0) {
        return printLines("No streamers yet. Add one: kick-monitor streamers add SLUG");
      }
      printLines(formatTable(
        ["STREAMER", "STATUS", "SINCE", "WATCHED BY", "CHANNEL ID", "TITLE"],
        items.map((i) => [
          escapeForTerminal(i.slug),
          i.status,
          i.status_changed_at ?? "",
          i.coverage === "pusher" ? "pusher+poll" : "poll only",
          i.channel_id === null ? "-" : String(i.channel_id),
          escapeForTerminal(i.status_reason ?? i.session?.title ?? ""),
        ]),
      ));
      const pollOnly = items.filter((i) => i.coverage === "poll_only").length;
      if (pollOnly > 0) {
        printLines(
          "",
          `${pollOnly} streamer(s) are watched by the poll only (no Pusher channel id; changes are seen ` +
            "within a poll interval). Kick reveals the id while they are live, or set it with " +
            "`streamers add SLUG --channel-id N`.",
        );
      }
    });

  streamers.command("test")
    .description(
      "ask Kick now what it says about a streamer; writes nothing. The broadcaster user id is not " +
        "the Pusher channel id; the channel id is shown when Kick exposes it (while live)",
    )
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
      // While live, /public/v1/livestreams is Kick's own word on the channel id (§1.5); else the website's.
      const live = channel.isLive ? await liveChannelIdOf(api, channel) : null;
      const ids = live === null
        ? await learnChannelIds([channel], { api, legacy: createLegacyLookup(config) })
        : new Map();
      const learned = ids.get(slug);
      const report = {
        slug,
        found: true,
        live: channel.isLive,
        title: channel.title,
        category: channel.category,
        viewers: channel.viewers,
        started_at: isoOrNull(channel.startedAt),
        broadcaster_user_id: channel.broadcasterUserId,
        channel_id: live ?? learned?.channelId ?? null,
        channel_id_source: live !== null ? "livestreams" : learned !== undefined ? "website" : null,
        chatroom_id: learned?.chatroomId ?? null,
      };
      if (options.json) return printJson(report);
      const channelLine = report.channel_id === null
        ? "unknown (Kick shows it only while live; the website API is blocked or failed)"
        : `${report.channel_id} (from ${
          live !== null ? "Kick's live-streams list" : "the kick.com website API"
        })`;
      printLines(
        `Streamer:            ${slug} (found)`,
        `Live:                ${report.live ? "yes" : "no"}`,
        `Title:               ${escapeForTerminal(report.title ?? "-")}`,
        `Category:            ${escapeForTerminal(report.category ?? "-")}`,
        `Viewers:             ${report.viewers ?? "-"}`,
        `Started at:          ${report.started_at ?? "-"}`,
        `Broadcaster user id: ${report.broadcaster_user_id} (the account's id; NOT the Pusher channel id)`,
        `Pusher channel id:   ${channelLine}`,
      );
    });

  streamers.command("history")
    .description("stream sessions, newest first; exit 1 when the streamer is not monitored")
    .argument("<slug>", "Kick channel slug")
    .option("--limit <n>", "at most this many (1-10000)", "20")
    .option("--json", "print one JSON document")
    .action(async (rawSlug, options) => {
      const slug = normaliseSlug(rawSlug);
      const limit = parseIntegerArgument("--limit", options.limit, 1, 10_000);
      const config = context().config();
      const sessions = await withStore(config, async (store) => {
        await requireMonitored(store, slug);
        return store.listSessions(slug, limit);
      });
      const items = sessions.map(sessionDocument);
      if (options.json) return printJson(items);
      if (items.length === 0) return printLines(`No sessions recorded for ${slug} yet.`);
      printLines(formatTable(
        ["STARTED AT", "ENDED AT", "DURATION", "TITLE", "CATEGORY"],
        items.map((i) => [
          i.started_at ?? "",
          i.ended_at ?? "live",
          i.duration_seconds === null ? "-" : formatDuration(i.duration_seconds),
          escapeForTerminal(i.title ?? ""),
          escapeForTerminal(i.category ?? ""),
        ]),
      ));
    });
}

/**
 * Fails (exit 1) when `slug` is not monitored: `streamers history` and `events list --streamer` answer the same
 * way, rather than an empty list that reads like "nothing happened".
 */
export async function requireMonitored(store: Store, slug: string): Promise<void> {
  if ((await store.getStreamer(slug)) === null) {
    throw new UserFacingError(
      `No streamer named ${JSON.stringify(slug)} is monitored ` +
        `(add it: kick-monitor streamers add ${slug})`,
    );
  }
}

/** Asks on a terminal; refuses (exit 2) without one, since deleting history cannot be undone. */
function confirmRemoval(slugs: string[]): void {
  const names = slugs.join(", ");
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError(
      `Removing would delete the recorded history of ${names} (events and sessions); ` +
        "pass --yes to confirm",
    );
  }
  if (!confirm(`Remove ${names} and delete ${slugs.length === 1 ? "its" : "their"} history?`)) {
    throw new UserFacingError("Nothing was removed", ExitCode.failure);
  }
}

interface AddContext {
  config: Config;
  api: KickApi;
}

/**
 * Adds `slugs` one API batch at a time: each batch is stored, then printed, before the next is asked for. A
 * progress line shows on a terminal. Ctrl-C stops the batch in flight; what was stored stays, and the command
 * exits 130 saying how many were left. Returns the slugs Kick does not know.
 */
async function addInBatches(
  slugs: string[],
  options: AddContext & { legacy: LegacyLookup },
): Promise<string[]> {
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", onSignal);
  const progress = new ProgressLine("streamers add:", slugs.length);
  const notFound: string[] = [];
  let done = 0;
  let stored = 0;
  try {
    await withStore(options.config, async (store) => {
      progress.update(0);
      const batches = addStreamersFromKick(store, slugs, {
        api: options.api,
        legacy: options.legacy,
        batchSize: options.config.apiBatchSize,
        signal: stop.signal,
      });
      try {
        for await (const { slugs: asked, rows, added, notFound: unknown } of batches) {
          done += asked.length;
          stored += rows.length;
          notFound.push(...unknown);
          progress.around(() => {
            const lines = rows.map((row) => describeAdded(row, added.includes(row.slug)));
            if (lines.length > 0) printLines(...lines);
          });
          progress.update(done);
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        if (stored === 0) throw error;
        // Say what was kept: the batches before the failure are stored, and a rerun adds the rest.
        throw new UserFacingError(
          `${describeError(error)} (after ${stored} streamer(s) were stored; ` +
            `${slugs.length - done} slug(s) not looked up: run the command again to add them)`,
          exitCodeOf(error),
          { cause: error },
        );
      }
    });
  } finally {
    progress.clear();
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  if (stop.signal.aborted && done < slugs.length) {
    const left = slugs.slice(done);
    throw new UserFacingError(
      `Interrupted: ${stored} streamer(s) stored, ${left.length} of ${slugs.length} slug(s) not ` +
        `looked up (${abbreviate(left)}); run the command again with them to add them` +
        (notFound.length === 0
          ? ""
          : `. Kick has no channel named ${notFound.map((s) => JSON.stringify(s)).join(", ")}`),
      ExitCode.interrupted,
    );
  }
  return notFound;
}

/**
 * Adds one streamer with the channel id the user gave, checked against Kick first: the broadcaster user id is
 * refused (it is never the channel id, kick-api.md §3.4), and while the streamer is live the channel id of
 * `/public/v1/livestreams` (§1.5) wins over a different one. A channel id another streamer already has is
 * refused: events of one channel would be recorded for two streamers.
 */
async function addWithChannelId(
  slug: string,
  given: number,
  options: AddContext,
): Promise<string[]> {
  const { channels } = await options.api.getChannelsBySlug([slug]);
  const channel = channels.get(slug);
  if (channel === undefined) return [slug];
  const live = channel.isLive ? await liveChannelIdOf(options.api, channel) : null;
  const verdict = judgeManualChannelId(given, {
    broadcasterUserId: channel.broadcasterUserId,
    liveChannelId: live,
  });
  if (verdict.kind === "user-id") {
    throw new UsageError(
      `--channel-id ${given} is ${slug}'s broadcaster user id, not its Pusher channel id (the two ` +
        `differ; kick-api.md §3.4). Kick shows the channel id only while ${slug} is live: ` +
        `run \`kick-monitor streamers test ${slug}\` then, or add ${slug} without --channel-id`,
    );
  }
  const notes: string[] = [];
  if (verdict.kind === "corrected") {
    notes.push(
      `${slug}: --channel-id ${given} is not its channel id; Kick's live-streams list says ` +
        `${verdict.channelId}, which is used instead`,
    );
  }
  await withStore(options.config, async (store) => {
    const holder = (await store.listStreamers()).find((s) =>
      s.channelId === verdict.channelId && s.slug !== slug
    );
    if (holder !== undefined) {
      throw new UsageError(
        `Channel id ${verdict.channelId} already belongs to ${holder.slug}; one channel id is ` +
          `one streamer (check the id, or remove ${holder.slug} first)`,
      );
    }
    const row = {
      slug,
      broadcasterUserId: channel.broadcasterUserId,
      channelId: verdict.channelId,
      chatroomId: null,
    };
    const result = await store.addStreamers([row]);
    printLines(...notes, describeAdded(row, result.added.includes(slug)));
  });
  return [];
}

/** The channel id Kick's live-streams list gives for a live broadcaster, or null. */
async function liveChannelIdOf(api: KickApi, channel: KickChannel): Promise<number | null> {
  const live = await api.getLivestreams([channel.broadcasterUserId]);
  return live.get(channel.broadcasterUserId)?.channelId ?? null;
}

function describeAdded(
  row: { slug: string; broadcasterUserId: number; channelId: number | null },
  added: boolean,
): string {
  const realtime = row.channelId === null
    ? "poll only until its channel id is learned"
    : `pusher channel ${row.channelId}`;
  return `${row.slug}: ${
    added ? "added" : "already monitored"
  } (user ${row.broadcasterUserId}, ${realtime})`;
}

function abbreviate(slugs: string[]): string {
  return slugs.length <= 5
    ? slugs.join(", ")
    : `${slugs.slice(0, 5).join(", ")} and ${slugs.length - 5} more`;
}

function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : `${m}m${String(seconds % 60).padStart(2, "0")}s`;
}
