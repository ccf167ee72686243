/**
 * The one logger. Writes to stderr only, so `--json` output on stdout stays a single document.
 * JSON lines when stderr is not a terminal (or LOG_FORMAT=json), a readable line otherwise.
 */
import { addSecret, redact } from "./redact.ts";
import { escapeForTerminal, escapeJsonForTerminal } from "./terminal.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogSettings {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; stderr by default. Tests capture it. */
  write: (line: string) => void;
}

const encoder = new TextEncoder();
function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

const settings: LogSettings = {
  level: "info",
  format: Deno.stderr.isTerminal() ? "pretty" : "json",
  write: writeStderr,
};

/** Changes the logger's settings for the whole process. */
export function configureLogging(changes: Partial<LogSettings>): void {
  Object.assign(settings, changes);
}

// Every line goes through the one redaction function (src/lib/redact.ts); re-exported for the modules that
// register the secrets they learn (the OAuth client, the database).
export { addSecret, redact };

export type LogFields = Record<string, unknown>;

function emit(level: LogLevel, message: string, fields?: LogFields): void {
  if (LEVEL_ORDER[level] < LEVEL_ORDER[settings.level]) return;
  const time = new Date().toISOString();
  let line: string;
  if (settings.format === "json") {
    // Fields carry text Kick's streamers wrote (titles, error bodies): no control or bidi character reaches
    // the terminal or the journal raw, in either format.
    line = escapeJsonForTerminal(
      JSON.stringify({ time, level, msg: message, ...fields }, errorReplacer),
    );
  } else {
    const extra = fields && Object.keys(fields).length > 0
      ? " " + Object.entries(fields).map(([k, v]) => `${k}=${formatValue(v)}`).join(" ")
      : "";
    line = escapeForTerminal(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra}`);
  }
  settings.write(redact(line));
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** Structured logger; `fields` are attached to the line as keys. */
export const log = {
  debug: (message: string, fields?: LogFields): void => emit("debug", message, fields),
  info: (message: string, fields?: LogFields): void => emit("info", message, fields),
  warn: (message: string, fields?: LogFields): void => emit("warn", message, fields),
  error: (message: string, fields?: LogFields): void => emit("error", message, fields),
};
