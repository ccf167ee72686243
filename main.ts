/**
 * kick-monitor's entry point: parse the command line, run the command, and map every failure to the exit codes
 * of interface.md (1 runtime, 2 usage, 69 service unavailable, 78 configuration) with a one-line reason; given
 * `--json`, a failure is also one JSON document on stdout (`{"error": {"message", "exit_code", "kind"}}`).
 */
import { CommanderError } from "@commander-js/extra-typings";
import { buildProgram, extractEnvFile } from "./src/cli/program.ts";
import {
  AnsweredExit,
  errorDocument,
  jsonDocumentPrinted,
  printJson,
  wantsJson,
} from "./src/cli/context.ts";
import { describeError, ExitCode, exitCodeOf } from "./src/lib/errors.ts";
import { redact } from "./src/lib/redact.ts";
import { escapeForTerminal } from "./src/lib/terminal.ts";

/** Runs the CLI with `args` (without the program name) and returns the exit code. */
export async function runCli(args: string[]): Promise<number> {
  // `deno task start -- config show` passes the literal "--" through; accept it.
  const cleaned = args[0] === "--" ? args.slice(1) : args;
  const { argv, envFile } = extractEnvFile(cleaned);
  const program = buildProgram(envFile);
  // A script that asked for JSON reads why it failed from stdout, as one document, whatever failed.
  const answerInJson = (message: string, code: number): void => {
    if (wantsJson(argv) && !jsonDocumentPrinted()) printJson(errorDocument(message, code));
  };
  try {
    await program.parseAsync(argv, { from: "user" });
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") {
        return ExitCode.ok;
      }
      // Commander has already printed the reason (unknown command or flag, missing argument).
      answerInJson(redact(error.message.replace(/^error: /, "")), ExitCode.usage);
      return ExitCode.usage;
    }
    if (error instanceof AnsweredExit) return error.exitCode;
    const message = redact(describeError(error));
    const printable = message.split("\n").map(escapeForTerminal).join("\n");
    Deno.stderr.writeSync(new TextEncoder().encode(`kick-monitor: ${printable}\n`));
    answerInJson(message, exitCodeOf(error));
    if (
      exitCodeOf(error) === ExitCode.failure && !(error instanceof Error && "exitCode" in error)
    ) {
      // An unexpected error: keep the stack for bug reports, at debug level only.
      if (Deno.env.get("LOG_LEVEL") === "debug" && error instanceof Error) {
        Deno.stderr.writeSync(new TextEncoder().encode(redact(error.stack ?? "") + "\n"));
      }
    }
    return exitCodeOf(error);
  }
}

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
