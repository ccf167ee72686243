/**
 * Making streamer-written text (titles, categories, slugs) inert in each service's markup. Titles are chosen by
 * whoever streams: without this, a title of "@everyone" pings a whole Discord server, and "<b>" breaks a
 * Telegram HTML message. Pure.
 */

const DISCORD_MARKDOWN = /[\\*_~`|>#\-[\]()<]/g;

/**
 * Discord: markdown characters are backslash-escaped and every `@` is followed by a zero-width space, so
 * `@everyone`, `@here`, `<@123>` and `<@&123>` neither render nor ping (allowed_mentions is the second guard).
 *
 * @example
 * ```ts
 * escapeDiscord("@everyone **free**"); // "@\u200beveryone \\*\\*free\\*\\*"
 * ```
 */
export function escapeDiscord(text: string): string {
  return text.replace(DISCORD_MARKDOWN, "\\$&").replaceAll("@", "@\u200b");
}

/** Telegram with `parse_mode: "HTML"`: `&`, `<`, `>` and `"` as entities. */
export function escapeTelegramHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** Slack mrkdwn: `&`, `<` and `>` as entities (what makes `<!channel>` and links), per Slack's docs. */
export function escapeSlack(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** Plain text services (ntfy, webhooks, apprise, the console): nothing to escape. */
export function plainText(text: string): string {
  return text;
}
