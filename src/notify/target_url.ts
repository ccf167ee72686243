/**
 * A target's URL (interface.md "Notifications", the kind table): which service it is, where requests go, and
 * which parts are secrets. Pure. Errors never quote the URL itself (it holds the secret): they name the part
 * that is wrong and show the masked form at most.
 */
import { MASK } from "../lib/redact.ts";
import { TARGET_KINDS, type TargetKind } from "./types.ts";

/** What a target URL means to the services. */
export interface ParsedTarget {
  kind: TargetKind;
  /**
   * The base every request is built on: discord's execute URL (`…/api/webhooks/{id}/{token}`), slack's
   * webhook, telegram's `{api}/bot{token}`, ntfy's server origin, the webhook's URL, apprise's `…/notify/{key}`.
   * Empty for console.
   */
  endpoint: string;
  /** Telegram chat id (`-100…` or `@channel`). */
  chatId?: string;
  /** ntfy topic. */
  topic?: string;
  /** ntfy basic auth. */
  username?: string;
  password?: string;
  /** Every secret in the URL, to mask wherever it might appear (register them with addSecret). */
  secrets: string[];
  /** The URL with every secret shown as `***`. */
  masked: string;
}

/** A URL that cannot be a target; the message says what was expected (exit 2 through UsageError upstream). */
export class TargetUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetUrlError";
  }
}

const DISCORD_HOSTS = new Set([
  "discord.com",
  "discordapp.com",
  "ptb.discord.com",
  "canary.discord.com",
]);
const DISCORD_PATH = /^\/api(?:\/v\d+)?\/webhooks\/(\d{1,25})\/([A-Za-z0-9_-]{10,200})\/?$/;
const TELEGRAM_TOKEN = /^\d{1,20}:[A-Za-z0-9_-]{10,100}$/;
const TELEGRAM_CHAT = /^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,})$/;
const NTFY_TOPIC = /^[-_A-Za-z0-9]{1,64}$/;

/** The kinds `--kind` accepts. */
export function parseKind(text: string): TargetKind {
  const kind = TARGET_KINDS.find((k) => k === text.trim().toLowerCase());
  if (kind === undefined) {
    throw new TargetUrlError(
      `--kind must be one of ${TARGET_KINDS.join(", ")}, got ${JSON.stringify(text)}`,
    );
  }
  return kind;
}

function schemeOf(url: string): string {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url.trim());
  return match === null ? "" : match[1].toLowerCase();
}

/**
 * Parses a target URL; `kind` (from `--kind`) forces the service, for a self-hosted or test endpoint at an
 * `http(s)://` address. Throws TargetUrlError for an unknown scheme or a URL malformed for its service.
 *
 * @example
 * ```ts
 * parseTargetUrl("tgram://123456:AAE-secret-token/-1001234").masked; // "tgram://***\/-1001234"
 * ```
 */
export function parseTargetUrl(url: string, kind?: TargetKind): ParsedTarget {
  const text = url.trim();
  const scheme = schemeOf(text);
  if (kind === undefined) kind = kindOfScheme(scheme, text);
  switch (kind) {
    case "console":
      return { kind, endpoint: "", secrets: [], masked: "console://" };
    case "discord":
      return parseDiscord(text, scheme);
    case "slack":
      return parseSlack(text, scheme);
    case "telegram":
      return parseTelegram(text, scheme);
    case "ntfy":
      return parseNtfy(text, scheme);
    case "webhook":
      return parseWebhook(text, scheme);
    case "apprise":
      return parseApprise(text, scheme);
  }
}

/** The URL with every secret as `***`; for a URL that does not parse, everything after the host. */
export function maskTargetUrl(url: string, kind?: TargetKind): string {
  try {
    return parseTargetUrl(url, kind).masked;
  } catch {
    const match = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/@]*@)?([^/?#]*)/.exec(url.trim());
    return match === null ? MASK : `${match[1]}${match[3]}/${MASK}`;
  }
}

function kindOfScheme(scheme: string, text: string): TargetKind {
  switch (scheme) {
    case "tgram":
      return "telegram";
    case "ntfy":
    case "ntfys":
      return "ntfy";
    case "json":
    case "jsons":
      return "webhook";
    case "apprise":
    case "apprises":
      return "apprise";
    case "console":
      return "console";
    case "http":
    case "https": {
      const host = hostOf(text);
      if (DISCORD_HOSTS.has(host)) return "discord";
      if (host === "hooks.slack.com") return "slack";
      throw new TargetUrlError(
        `Cannot tell which service ${host === "" ? "an http(s) URL" : host} is: use a Discord or ` +
          "Slack webhook URL, a scheme such as tgram://, ntfy://, json://, apprise://, or --kind KIND",
      );
    }
    default:
      throw new TargetUrlError(
        `Unknown notification URL scheme ${
          scheme === "" ? "(none)" : JSON.stringify(`${scheme}://`)
        }: ` +
          "expected https://discord.com/api/webhooks/…, https://hooks.slack.com/services/…, tgram://, " +
          "ntfy://, ntfys://, json://, jsons://, apprise://, apprises:// or console://",
      );
  }
}

function hostOf(text: string): string {
  try {
    return new URL(text).hostname.toLowerCase();
  } catch {
    return "";
  }
}

function httpUrl(text: string, scheme: string, what: string): URL {
  if (scheme !== "http" && scheme !== "https") {
    throw new TargetUrlError(
      `${what} must be an http(s):// URL with --kind, got a ${scheme}:// URL`,
    );
  }
  try {
    return new URL(text);
  } catch {
    throw new TargetUrlError(`${what} is not a valid URL`);
  }
}

function parseDiscord(text: string, scheme: string): ParsedTarget {
  const url = httpUrl(text, scheme, "A Discord webhook URL");
  const match = DISCORD_PATH.exec(url.pathname);
  if (match === null) {
    throw new TargetUrlError(
      "Malformed Discord webhook URL: expected https://discord.com/api/webhooks/{id}/{token} " +
        `(copy it from the channel's Integrations → Webhooks), got ${url.origin}/${MASK}`,
    );
  }
  const [, id, token] = match;
  return {
    kind: "discord",
    endpoint: `${url.origin}/api/webhooks/${id}/${token}`,
    secrets: [token],
    masked: `${url.origin}/api/webhooks/${id}/${MASK}`,
  };
}

function parseSlack(text: string, scheme: string): ParsedTarget {
  const url = httpUrl(text, scheme, "A Slack webhook URL");
  const secret = url.pathname.replace(/^\/services\//, "").replace(/^\//, "");
  if (secret === "") {
    throw new TargetUrlError(
      "Malformed Slack webhook URL: expected https://hooks.slack.com/services/T…/B…/…",
    );
  }
  const prefix = url.pathname.startsWith("/services/") ? "/services/" : "/";
  return {
    kind: "slack",
    endpoint: `${url.origin}${url.pathname}`,
    secrets: [secret, ...secret.split("/").filter((part) => part.length >= 16)],
    masked: `${url.origin}${prefix}${MASK}`,
  };
}

function parseTelegram(text: string, scheme: string): ParsedTarget {
  let apiBase: string;
  let rest: string;
  let maskedBase: string;
  if (scheme === "tgram") {
    apiBase = "https://api.telegram.org";
    rest = text.slice("tgram://".length);
    maskedBase = "tgram://";
  } else {
    const url = httpUrl(text, scheme, "A Telegram Bot API URL");
    apiBase = url.origin;
    rest = url.pathname.slice(1);
    maskedBase = `${url.origin}/`;
  }
  const [token, chatId, ...extra] = rest.replace(/\/$/, "").split("/");
  if (token === undefined || !TELEGRAM_TOKEN.test(token)) {
    throw new TargetUrlError(
      "Malformed Telegram URL: expected tgram://{bot_token}/{chat_id} with the token BotFather gave " +
        "(digits, a colon, then letters)",
    );
  }
  if (chatId === undefined || !TELEGRAM_CHAT.test(chatId) || extra.length > 0) {
    throw new TargetUrlError(
      "Malformed Telegram URL: expected a chat id after the token (tgram://{bot_token}/{chat_id}; " +
        "a number such as -1001234567890, or @channelname)",
    );
  }
  return {
    kind: "telegram",
    endpoint: `${apiBase}/bot${token}`,
    chatId,
    secrets: [token, token.split(":")[1]],
    masked: `${maskedBase}${MASK}/${chatId}`,
  };
}

/** Parses a custom-scheme URL (ntfy://, json://, apprise://) as the http(s) URL it stands for. */
function asHttp(text: string, scheme: string, secure: boolean, what: string): URL {
  const http = scheme === "http" || scheme === "https"
    ? text
    : `${secure ? "https" : "http"}${text.slice(scheme.length)}`;
  try {
    const url = new URL(http);
    if (url.hostname === "") throw new Error("no host");
    return url;
  } catch {
    throw new TargetUrlError(`Malformed ${what} URL: expected ${scheme}://host[:port]/…`);
  }
}

function maskedCustom(scheme: string, url: URL, path: string): string {
  const user = url.username === ""
    ? ""
    : `${url.username}${url.password === "" ? "" : `:${MASK}`}@`;
  return `${scheme}://${user}${url.host}${path}`;
}

function parseNtfy(text: string, scheme: string): ParsedTarget {
  const url = asHttp(text, scheme, scheme === "ntfys", "ntfy");
  const topic = url.pathname.replace(/^\//, "").replace(/\/$/, "");
  if (!NTFY_TOPIC.test(topic)) {
    throw new TargetUrlError(
      "Malformed ntfy URL: expected ntfy://[user:pass@]host[:port]/topic with a topic of letters, " +
        "digits, - and _",
    );
  }
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return {
    kind: "ntfy",
    endpoint: url.origin,
    topic,
    username: username === "" ? undefined : username,
    password: password === "" ? undefined : password,
    secrets: password === "" ? [] : [password],
    masked: maskedCustom(scheme, url, `/${topic}`),
  };
}

function parseWebhook(text: string, scheme: string): ParsedTarget {
  const url = asHttp(text, scheme, scheme === "jsons", "json:// webhook");
  const password = decodeURIComponent(url.password);
  const masked = maskedCustom(scheme, url, url.pathname);
  url.username = "";
  url.password = "";
  return {
    kind: "webhook",
    endpoint: url.href,
    secrets: password === "" ? [] : [password],
    masked,
  };
}

function parseApprise(text: string, scheme: string): ParsedTarget {
  const url = asHttp(text, scheme, scheme === "apprises", "apprise");
  const parts = url.pathname.split("/").filter((p) => p !== "");
  const key = parts.pop();
  if (key === undefined) {
    throw new TargetUrlError(
      "Malformed apprise URL: expected apprise://host[:port]/{config_key}",
    );
  }
  if (parts.at(-1) === "notify") parts.pop();
  const prefix = parts.length === 0 ? "" : `/${parts.join("/")}`;
  return {
    kind: "apprise",
    endpoint: `${url.origin}${prefix}/notify/${encodeURIComponent(decodeURIComponent(key))}`,
    secrets: [decodeURIComponent(key)],
    masked: maskedCustom(scheme, url, `${prefix}/${MASK}`),
  };
}
