/** `events list`. */
import { eventDocument } from "../domain/documents.ts";
import type { Command } from "@commander-js/extra-typings";
import { normaliseSlug } from "../domain/slug.ts";
import { escapeForTerminal } from "../lib/terminal.ts";
import { parseDateArgument, parseIntegerArgument, parseTypesArgument } from "./arguments.ts";
import { type CommandContext, formatTable, printJson, printLines } from "./context.ts";
import { requireMonitored } from "./streamer_commands.ts";
import { withStore } from "../resources.ts";

export function registerEventCommands(program: Command, context: () => CommandContext): void {
  const events = program.command("events").description("the event log of recorded transitions");

  events.command("list")
    .description(
      "recorded transitions, newest first; --streamer naming a streamer that is not monitored " +
        "exits 1, like `streamers history`",
    )
    .option("--streamer <slug>", "only this streamer (exit 1 when it is not monitored)")
    .option("--since <iso>", "only transitions at or after this time (ISO 8601)")
    .option("--limit <n>", "at most this many (1-100000)", "50")
    .option(
      "--types <list>",
      "only these event types: online, offline, title (a title or category change while live); " +
        "default online,offline",
    )
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const slug = options.streamer === undefined ? undefined : normaliseSlug(options.streamer);
      const since = options.since === undefined
        ? undefined
        : parseDateArgument("--since", options.since);
      const limit = parseIntegerArgument("--limit", options.limit, 1, 100_000);
      const types = options.types === undefined ? undefined : parseTypesArgument(options.types);
      const config = context().config();
      const rows = await withStore(config, async (store) => {
        // An empty list would read as "no events yet" for a typo: say it is not monitored instead.
        if (slug !== undefined) await requireMonitored(store, slug);
        return await store.listEvents({ slug, since, limit, types });
      });
      const items = rows.map(eventDocument);
      if (options.json) return printJson(items);
      if (items.length === 0) return printLines("No events recorded yet.");
      printLines(formatTable(
        ["OCCURRED AT", "STREAMER", "TYPE", "SOURCE", "TITLE"],
        items.map((e) => [
          e.occurred_at ?? "",
          escapeForTerminal(e.slug),
          e.type,
          e.source,
          escapeForTerminal(e.title ?? ""),
        ]),
      ));
    });
}
