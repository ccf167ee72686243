/**
 * Every setting of interface.md, as one zod schema. Loaded from (highest first) command-line flags, the process
 * environment, a `.env` file, and defaults. Problems are collected for every variable, never just the first.
 */
import { z } from "zod";
import { parse as parseDotenv } from "dotenv";
import { isLoopback } from "./http/access.ts";
import { parseDatabaseUrl } from "./store/database_url.ts";
import { ConfigError } from "./lib/errors.ts";
import { addSecret, MASK, redact } from "./lib/redact.ts";
import {
  httpListen,
  httpUrl,
  integerIn,
  numberIn,
  pemOrPath,
  postgresUrl,
  pusherUrl,
  urlPath,
} from "./config_values.ts";

export { PUSHER_OFF } from "./config_values.ts";

export const DEFAULT_PUSHER_URL =
  "wss://ws-us2.pusher.com/app/32cbd69e4b950bf97679?protocol=7&client=js&version=8.4.0&flash=false";

/** Every variable, its schema and default. Keys are the environment variable names. */
const variableSchemas = {
  KICK_CLIENT_ID: z.string().trim().min(1, { message: "must not be empty" }).optional(),
  KICK_CLIENT_SECRET: z.string().trim().min(1, { message: "must not be empty" }).optional(),
  DATABASE_URL: postgresUrl.optional(),
  KICK_MONITOR_DATA_DIR: z.string().min(1).default("./data"),
  KICK_OAUTH_URL: httpUrl.default("https://id.kick.com"),
  KICK_API_URL: httpUrl.default("https://api.kick.com"),
  KICK_WEB_URL: httpUrl.default("https://kick.com"),
  KICK_PUSHER_URL: pusherUrl.default(DEFAULT_PUSHER_URL),
  KICK_MONITOR_POLL_INTERVAL: integerIn(1, 86_400, "seconds").default(60),
  KICK_MONITOR_OFFLINE_GRACE: integerIn(0, 86_400, "seconds").default(60),
  KICK_MONITOR_HTTP: httpListen.default({ hostname: "127.0.0.1", port: 8080 }),
  KICK_MONITOR_HTTP_TOKEN: z.string().trim().min(16, {
    message: "expected at least 16 characters (for example: openssl rand -hex 24)",
  }).optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  // Kick's official webhooks (interface.md "Kick's official webhooks").
  KICK_WEBHOOK_LISTEN: httpListen.default(null),
  KICK_WEBHOOK_PATH: urlPath.default("/kick/webhook"),
  KICK_WEBHOOK_PUBLIC_KEY: pemOrPath.optional(),
  KICK_WEBHOOK_MAX_AGE: integerIn(1, 86_400, "seconds").default(300),
  KICK_WEBHOOK_PUBLIC_URL: httpUrl.optional(),
  // Ours, beyond interface.md: knobs a demanding user (and the tests) need.
  // Kick says about one request per second per app (kick-api.md §5 item 8, "100pm from 20pm" read generously).
  KICK_API_RATE: numberIn(0.1, 1000, "requests per second").default(1),
  KICK_API_BATCH_SIZE: integerIn(1, 50, "slugs per request").default(25),
  KICK_API_TIMEOUT: integerIn(1, 300, "seconds").default(10),
  KICK_MONITOR_CHANNELS_PER_SOCKET: integerIn(1, 10_000, "channels").default(200),
  // Several monitors on one database (issue 16; interface.md).
  KICK_MONITOR_INSTANCE: z.string().trim().regex(/^[A-Za-z0-9._:@-]{1,200}$/, {
    message: "expected 1 to 200 letters, digits or . _ : @ - (e.g. the host name)",
  }).optional(),
  // At least 3 s: the heartbeat renews every TTL / 5 but at most once a second, so at least three times a TTL.
  KICK_MONITOR_LEASE_TTL: numberIn(3, 3_600, "seconds").default(15),
} as const;

export type VariableName = keyof typeof variableSchemas;
export const VARIABLE_NAMES = Object.keys(variableSchemas) as VariableName[];
/** Variables whose whole value is a secret: shown as "***", never in part. */
export const SECRET_VARIABLES: ReadonlySet<VariableName> = new Set([
  "KICK_CLIENT_SECRET",
  "KICK_MONITOR_HTTP_TOKEN",
]);

/** Every variable's schema; parsing `{}` gives the defaults. */
export const configSchema = z.object(variableSchemas);
type RawConfig = z.output<typeof configSchema>;

/** The typed, validated configuration the rest of the program uses. */
export interface Config {
  /** KICK_CLIENT_ID: the app's client id; needed by anything that talks to Kick's official API. */
  kickClientId: string | undefined;
  /** KICK_CLIENT_SECRET (redacted from every output). */
  kickClientSecret: string | undefined;
  /** DATABASE_URL: a PostgreSQL server; undefined means the embedded database in `dataDir`. */
  databaseUrl: string | undefined;
  /** KICK_MONITOR_DATA_DIR: the embedded database, pid file and journal. */
  dataDir: string;
  /** KICK_OAUTH_URL, without a trailing slash. */
  oauthUrl: string;
  /** KICK_API_URL, without a trailing slash. */
  apiUrl: string;
  /** KICK_WEB_URL (the legacy website API), without a trailing slash. */
  webUrl: string;
  /**
   * KICK_PUSHER_URL: the Pusher websocket URL, or `PUSHER_OFF` ("off"): no Pusher, webhooks and the poll
   * only.
   */
  pusherUrl: string;
  /** KICK_MONITOR_POLL_INTERVAL: seconds between reconciliation polls. */
  pollIntervalSeconds: number;
  /** KICK_MONITOR_OFFLINE_GRACE: seconds an offline must hold before it is recorded. */
  offlineGraceSeconds: number;
  /** KICK_MONITOR_HTTP: the health and metrics listener, or null ("off"). */
  http: { hostname: string; port: number } | null;
  /** KICK_MONITOR_HTTP_TOKEN: needed by every route but /healthz when set (never logged or shown). */
  httpToken: string | undefined;
  /** Kick's official webhooks; `listen` null ("off") means no receiver. */
  webhook: {
    /** KICK_WEBHOOK_LISTEN: the receiver's listener, or null ("off"). */
    listen: { hostname: string; port: number } | null;
    /** Where Kick posts, e.g. `/kick/webhook`. */
    path: string;
    /** KICK_WEBHOOK_PUBLIC_KEY as given: PEM text or a path; undefined → Kick's API, else the documented key. */
    publicKey: string | undefined;
    /** KICK_WEBHOOK_MAX_AGE: older deliveries (by their timestamp) are refused as replays. */
    maxAgeSeconds: number;
    /** The receiver's public address, for `doctor` only. */
    publicUrl: string | undefined;
  };
  /** LOG_LEVEL. */
  logLevel: "debug" | "info" | "warn" | "error";
  /** LOG_FORMAT; by default pretty on a terminal, else json. */
  logFormat: "json" | "pretty";
  /** KICK_API_RATE: requests per second toward Kick, all together. */
  apiRatePerSecond: number;
  /** KICK_API_BATCH_SIZE: slugs or ids per official-API request. */
  apiBatchSize: number;
  /** KICK_API_TIMEOUT: seconds one API attempt may take. */
  apiTimeoutSeconds: number;
  /** KICK_MONITOR_CHANNELS_PER_SOCKET: Pusher channels carried by one websocket. */
  channelsPerSocket: number;
  /** KICK_MONITOR_INSTANCE: this monitor's name among the monitors of one database (default hostname-pid). */
  instance: string;
  /** KICK_MONITOR_LEASE_TTL: seconds a monitor that stops renewing keeps its streamers. */
  leaseTtlSeconds: number;
}

function toConfig(raw: RawConfig, stderrIsTerminal: boolean): Config {
  return {
    kickClientId: raw.KICK_CLIENT_ID,
    kickClientSecret: raw.KICK_CLIENT_SECRET,
    databaseUrl: raw.DATABASE_URL,
    dataDir: raw.KICK_MONITOR_DATA_DIR,
    oauthUrl: raw.KICK_OAUTH_URL.replace(/\/+$/, ""),
    apiUrl: raw.KICK_API_URL.replace(/\/+$/, ""),
    webUrl: raw.KICK_WEB_URL.replace(/\/+$/, ""),
    pusherUrl: raw.KICK_PUSHER_URL,
    pollIntervalSeconds: raw.KICK_MONITOR_POLL_INTERVAL,
    offlineGraceSeconds: raw.KICK_MONITOR_OFFLINE_GRACE,
    http: raw.KICK_MONITOR_HTTP,
    httpToken: raw.KICK_MONITOR_HTTP_TOKEN,
    webhook: {
      listen: raw.KICK_WEBHOOK_LISTEN,
      path: raw.KICK_WEBHOOK_PATH,
      publicKey: raw.KICK_WEBHOOK_PUBLIC_KEY,
      maxAgeSeconds: raw.KICK_WEBHOOK_MAX_AGE,
      publicUrl: raw.KICK_WEBHOOK_PUBLIC_URL?.replace(/\/+$/, ""),
    },
    logLevel: raw.LOG_LEVEL,
    logFormat: raw.LOG_FORMAT ?? (stderrIsTerminal ? "pretty" : "json"),
    apiRatePerSecond: raw.KICK_API_RATE,
    apiBatchSize: raw.KICK_API_BATCH_SIZE,
    apiTimeoutSeconds: raw.KICK_API_TIMEOUT,
    channelsPerSocket: raw.KICK_MONITOR_CHANNELS_PER_SOCKET,
    instance: raw.KICK_MONITOR_INSTANCE ?? `${Deno.hostname()}-${Deno.pid}`,
    leaseTtlSeconds: raw.KICK_MONITOR_LEASE_TTL,
  };
}

export interface LoadOptions {
  /** Process environment; `Deno.env.toObject()` by default. */
  env?: Record<string, string>;
  /** Path of the .env file; `.env` in the working directory by default. An explicit path must exist. */
  envFile?: string;
  /** Values from command-line flags, by variable name; they win over everything. */
  overrides?: Partial<Record<VariableName, string>>;
  /** Where warnings go (a .env file with a secret that others can read); stderr by default. */
  warn?: (message: string) => void;
}

/** Where each effective value came from, for `config show`. */
export type ValueOrigin = "flag" | "env" | ".env" | "default";

export interface LoadedSettings {
  /** The merged raw strings, by variable name (only those that were set somewhere). */
  values: Partial<Record<VariableName, string>>;
  origins: Partial<Record<VariableName, ValueOrigin>>;
  /** The .env file that was read, if any. */
  envFilePath: string | null;
}

/** A .env file larger than this is refused rather than read: it cannot be a configuration. */
export const MAX_ENV_FILE_BYTES = 1024 * 1024;
/** A value longer than this is refused (the longest real one, a URL, is a few hundred characters). */
export const MAX_VALUE_LENGTH = 64 * 1024;

/**
 * Merges flag > env > .env, without validating. Registers the configured secrets for redaction (every output
 * from now on masks them). Throws ConfigError when an explicit --env-file is missing, when the .env file is
 * larger than MAX_ENV_FILE_BYTES, or when a value is longer than MAX_VALUE_LENGTH (naming the variable).
 */
export function gatherSettings(options: LoadOptions = {}): LoadedSettings {
  const env = options.env ?? Deno.env.toObject();
  const fileValues: Record<string, string> = {};
  let envFilePath: string | null = null;
  const path = options.envFile ?? ".env";
  let size: number | null = null;
  try {
    size = Deno.statSync(path).size;
  } catch {
    // Missing: handled by the read below.
  }
  if (size !== null && size > MAX_ENV_FILE_BYTES) {
    throw new ConfigError([
      ...oversizedLines(path, size),
      `${JSON.stringify(path)} is ${formatBytes(size)}; a .env file may be at most ${
        formatBytes(MAX_ENV_FILE_BYTES)
      } (is it the right file?)`,
    ]);
  }
  try {
    const text = Deno.readTextFileSync(path);
    Object.assign(fileValues, parseDotenv(text));
    envFilePath = path;
    warnIfExposed(path, fileValues, options.warn ?? writeWarning);
  } catch (error) {
    if (options.envFile !== undefined) {
      const reason = error instanceof Deno.errors.NotFound ? "no such file" : String(error);
      throw new ConfigError([`--env-file "${options.envFile}": ${reason}`]);
    }
  }
  const values: Partial<Record<VariableName, string>> = {};
  const origins: Partial<Record<VariableName, ValueOrigin>> = {};
  for (const name of VARIABLE_NAMES) {
    const candidates: [string | undefined, ValueOrigin][] = [
      [options.overrides?.[name], "flag"],
      [env[name], "env"],
      [fileValues[name], ".env"],
    ];
    for (const [value, origin] of candidates) {
      // An empty value counts as unset, the way shells and .env files usually mean it.
      if (value !== undefined && value !== "") {
        values[name] = value;
        origins[name] = origin;
        break;
      }
    }
  }
  const oversized = VARIABLE_NAMES.filter((name) => (values[name]?.length ?? 0) > MAX_VALUE_LENGTH)
    .map((name) =>
      `${name} (from ${origins[name]}) is ${
        values[name]!.length
      } characters long; at most ${MAX_VALUE_LENGTH} are allowed`
    );
  if (oversized.length > 0) throw new ConfigError(oversized);
  addSecret(values.KICK_CLIENT_SECRET);
  addSecret(values.KICK_MONITOR_HTTP_TOKEN);
  addSecret(databasePassword(values.DATABASE_URL));
  return { values, origins, envFilePath };
}

/**
 * The variables of an oversized .env file whose lines are too long, by name, so the error says which one;
 * read as bytes and only the names decoded. A file too large to read at all is only named by its size.
 */
function oversizedLines(path: string, size: number): string[] {
  if (size > 256 * 1024 * 1024) return [];
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return [];
  }
  const found: string[] = [];
  const decoder = new TextDecoder();
  for (let start = 0; start < bytes.length;) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    if (end - start > MAX_VALUE_LENGTH) {
      const head = decoder.decode(bytes.subarray(start, start + 200));
      const name = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(head)?.[1] ?? "a line";
      found.push(
        `${name} (in ${JSON.stringify(path)}) is ${
          end - start
        } bytes long; a value may be at most ${MAX_VALUE_LENGTH} characters`,
      );
    }
    start = end + 1;
  }
  return found;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Math.round(bytes / 1024 / 102.4) / 10} MiB`;
  return `${Math.round(bytes / 102.4) / 10} KiB`;
}

/** The password of a DATABASE_URL, or undefined when it has none or does not parse. */
function databasePassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return parseDatabaseUrl(url).password ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Warns when a .env file holding a secret (the client secret, or a database password) can be read by other
 * users: anyone on the machine could then use the Kick app or the database.
 */
function warnIfExposed(
  path: string,
  values: Record<string, string>,
  warn: (message: string) => void,
): void {
  if (Deno.build.os === "windows") return;
  const secrets: string[] = [];
  if (values.KICK_CLIENT_SECRET) secrets.push("KICK_CLIENT_SECRET");
  if (databasePassword(values.DATABASE_URL)) secrets.push("DATABASE_URL");
  if (secrets.length === 0) return;
  let mode: number | null;
  try {
    mode = Deno.statSync(path).mode;
  } catch {
    return;
  }
  if (mode === null || (mode & 0o077) === 0) return;
  warn(
    `${JSON.stringify(path)} holds ${secrets.join(" and ")} but other users can read it ` +
      `(mode ${(mode & 0o777).toString(8).padStart(3, "0")}); run: chmod 600 ${path}`,
  );
}

function writeWarning(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`kick-monitor: warning: ${message}\n`));
}

/** Validates merged settings; returns every problem, named by variable, in a stable order. */
export function validateSettings(
  values: Partial<Record<VariableName, string>>,
): { config: Config; problems: [] } | { config: null; problems: string[] } {
  const result = configSchema.safeParse(values);
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0]) as VariableName;
      const shown = SECRET_VARIABLES.has(name) ? MASK : redact(JSON.stringify(values[name]));
      problems.push(`${name}=${shown}: ${issue.message}`);
    }
  }
  if (values.KICK_CLIENT_ID && !values.KICK_CLIENT_SECRET) {
    problems.push("KICK_CLIENT_SECRET: required when KICK_CLIENT_ID is set");
  }
  if (values.KICK_CLIENT_SECRET && !values.KICK_CLIENT_ID) {
    problems.push("KICK_CLIENT_ID: required when KICK_CLIENT_SECRET is set");
  }
  if (result.success && !result.data.KICK_MONITOR_HTTP_TOKEN) {
    const listen = result.data.KICK_MONITOR_HTTP;
    if (listen !== null && !isLoopback(listen.hostname)) {
      problems.push(
        `KICK_MONITOR_HTTP=${
          JSON.stringify(values.KICK_MONITOR_HTTP)
        }: a non-loopback address needs KICK_MONITOR_HTTP_TOKEN (the status page and API would be open ` +
          "to the network); set a token, or listen on 127.0.0.1",
      );
    }
  }
  if (problems.length > 0 || !result.success) return { config: null, problems };
  return { config: toConfig(result.data, Deno.stderr.isTerminal()), problems: [] };
}

/** Loads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(options: LoadOptions = {}): Config {
  const { values } = gatherSettings(options);
  const result = validateSettings(values);
  if (result.config === null) throw new ConfigError(result.problems);
  return result.config;
}

/** Throws ConfigError unless the Kick app credentials are set (anything that talks to Kick needs them). */
export function requireKickCredentials(config: Config): { clientId: string; clientSecret: string } {
  const missing: string[] = [];
  if (!config.kickClientId) {
    missing.push("KICK_CLIENT_ID: required to talk to Kick (app client id)");
  }
  if (!config.kickClientSecret) {
    missing.push("KICK_CLIENT_SECRET: required to talk to Kick (app client secret)");
  }
  if (missing.length > 0) throw new ConfigError(missing);
  return { clientId: config.kickClientId!, clientSecret: config.kickClientSecret! };
}
