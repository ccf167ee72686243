/**
 * The command tree of interface.md. Each group lives in its own module; this file only assembles them.
 */
import { Command } from "@commander-js/extra-typings";
import { CommandContext } from "./context.ts";
import { registerConfigCommands } from "./config_commands.ts";
import { registerDbCommands } from "./db_commands.ts";
import { registerStreamerCommands } from "./streamer_commands.ts";
import { registerEventCommands } from "./event_commands.ts";
import { registerServiceCommands } from "./service_commands.ts";
import { registerDemoCommand } from "./demo_command.ts";
import { registerDoctorCommand } from "./doctor_command.ts";
import { registerWebhookCommands } from "./webhook_commands.ts";
import { registerNotifyCommands } from "./notify_commands.ts";

export const VERSION = "0.1.0";

/** Removes `--env-file PATH` / `--env-file=PATH` wherever it appears, so it works before or after a command. */
export function extractEnvFile(argv: string[]): { argv: string[]; envFile?: string } {
  const rest: string[] = [];
  let envFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === "--env-file") {
      envFile = argv[++i];
      if (envFile === undefined) envFile = "";
    } else if (arg.startsWith("--env-file=")) {
      envFile = arg.slice("--env-file=".length);
    } else {
      rest.push(arg);
    }
  }
  return { argv: rest, envFile };
}

/** Builds the program; `context` is created when the command runs. */
export function buildProgram(envFile: string | undefined): Command {
  let context: CommandContext | null = null;
  const getContext = () => (context ??= new CommandContext({ envFile }));
  const program = new Command()
    .name("kick-monitor")
    .description(
      "Watch Kick.com streamers and record every online/offline transition in PostgreSQL.",
    )
    .version(VERSION)
    .option("--env-file <path>", "read settings from this file instead of ./.env")
    .addHelpText(
      "after",
      "\nExit codes: 0 success, 1 runtime failure, 2 usage error, 3 `service status`: no monitor runs,\n" +
        "69 Kick or the database unreachable, 78 configuration, 130 interrupted (Ctrl-C; work done is kept).\n" +
        'With --json a failure is also one document on stdout: {"error": {"message", "exit_code", "kind"}}.',
    )
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void Deno.stdout.writeSync(new TextEncoder().encode(text)),
      writeErr: (text) => void Deno.stderr.writeSync(new TextEncoder().encode(text)),
    });
  registerConfigCommands(program, getContext);
  registerDbCommands(program, getContext);
  registerStreamerCommands(program, getContext);
  registerEventCommands(program, getContext);
  registerServiceCommands(program, getContext);
  registerDemoCommand(program, getContext);
  registerDoctorCommand(program, getContext);
  registerWebhookCommands(program, getContext);
  registerNotifyCommands(program, getContext);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}
