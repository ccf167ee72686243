/**
 * What every command needs: the configuration (loaded once, after flags are parsed), logging set up from it, and
 * helpers for `--json` output (exactly one document on stdout; logs go to stderr).
 */
import { type Config, loadConfig, type VariableName } from "../config.ts";
import { ExitCode, type ExitCodeValue, UserFacingError } from "../lib/errors.ts";
import { addSecret, configureLogging } from "../lib/log.ts";

export interface GlobalOptions {
  envFile?: string;
}

export class CommandContext {
  #config: Config | null = null;
  readonly globals: GlobalOptions;
  readonly overrides: Partial<Record<VariableName, string>> = {};

  constructor(globals: GlobalOptions) {
    this.globals = globals;
  }

  /** The validated configuration; throws ConfigError (exit 78) listing every problem. */
  config(): Config {
    if (this.#config === null) {
      const config = loadConfig({ envFile: this.globals.envFile, overrides: this.overrides });
      restrictNewFiles();
      addSecret(config.kickClientSecret);
      addSecret(passwordOf(config.databaseUrl));
      configureLogging({ level: config.logLevel, format: config.logFormat });
      this.#config = config;
    }
    return this.#config;
  }
}

/**
 * Files and directories this process creates are for its user only (0600 and 0700): the journal, lock and
 * status files name our streamers and pids, and the embedded database's files hold everything. Our own
 * creation sites pass these modes too; the umask covers what libraries create (PGlite ignores modes).
 */
function restrictNewFiles(): void {
  if (Deno.build.os === "windows") return;
  Deno.umask(0o077);
}

function passwordOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}

const encoder = new TextEncoder();
let jsonPrinted = false;

/** Prints one JSON document on stdout. */
export function printJson(value: unknown): void {
  jsonPrinted = true;
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(value, null, 2) + "\n"));
}

/** Whether this process has printed its JSON document (so a failure must not print a second one). */
export function jsonDocumentPrinted(): boolean {
  return jsonPrinted;
}

/**
 * Ends a command with an exit code after it has printed its whole answer itself (`service status` exits 3 when
 * no monitor runs): main.ts prints nothing more for it, neither a reason on stderr nor an error document.
 */
export class AnsweredExit extends UserFacingError {
  constructor(message: string, exitCode: ExitCodeValue) {
    super(message, exitCode);
    this.name = "AnsweredExit";
  }
}

const EXIT_KINDS: Readonly<Record<number, string>> = {
  [ExitCode.failure]: "failure",
  [ExitCode.usage]: "usage",
  [ExitCode.notRunning]: "not_running",
  [ExitCode.unavailable]: "unavailable",
  [ExitCode.config]: "config",
  [ExitCode.interrupted]: "interrupted",
};

/** The document a command given `--json` prints on stdout when it fails (the reason also goes to stderr). */
export function errorDocument(
  message: string,
  exitCode: number,
): { error: { message: string; exit_code: number; kind: string } } {
  return { error: { message, exit_code: exitCode, kind: EXIT_KINDS[exitCode] ?? "failure" } };
}

/** Whether the command line asks for `--json` (before any `--`). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}

/** Prints human-readable lines on stdout. */
export function printLines(...lines: string[]): void {
  Deno.stdout.writeSync(encoder.encode(lines.join("\n") + "\n"));
}

/** Formats rows as an aligned text table. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}
