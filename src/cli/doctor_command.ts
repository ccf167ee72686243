/** `doctor`: a checklist against whatever the configuration points at. */
import type { Command } from "@commander-js/extra-typings";
import { UserFacingError } from "../lib/errors.ts";
import type { CommandContext } from "./context.ts";

export function registerDoctorCommand(program: Command, _context: () => CommandContext): void {
  program.command("doctor")
    .description("check configuration, database, Kick credentials, API and Pusher")
    .option("--json", "print one JSON document")
    .option("--slug <slug>", "channel to look up")
    .action(() => {
      throw new UserFacingError("doctor: not implemented yet");
    });
}
