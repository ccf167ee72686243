/**
 * kick-monitor's entry point: parse the command line, run the command, and map every failure to the exit codes
 * of interface.md (1 runtime, 2 usage, 69 service unavailable, 78 configuration) with a one-line reason.
 */
import { CommanderError } from "@commander-js/extra-typings";
import { buildProgram, extractEnvFile } from "./src/cli/program.ts";
import { describeError, ExitCode, exitCodeOf } from "./src/lib/errors.ts";
import { redact } from "./src/lib/redact.ts";

/** Runs the CLI with `args` (without the program name) and returns the exit code. */
export async function runCli(args: string[]): Promise<number> {
  // `deno task start -- config show` passes the literal "--" through; accept it.
  const cleaned = args[0] === "--" ? args.slice(1) : args;
  const { argv, envFile } = extractEnvFile(cleaned);
  const program = buildProgram(envFile);
  try {
    await program.parseAsync(argv, { from: "user" });
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") {
        return ExitCode.ok;
      }
      // Commander has already printed the reason (unknown command or flag, missing argument).
      return ExitCode.usage;
    }
    const message = redact(describeError(error));
    Deno.stderr.writeSync(new TextEncoder().encode(`kick-monitor: ${message}\n`));
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
