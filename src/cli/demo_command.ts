/** `demo`: the whole product against a simulated Kick, with no credentials and no network. */
import type { Command } from "@commander-js/extra-typings";
import { UserFacingError } from "../lib/errors.ts";
import type { CommandContext } from "./context.ts";

export function registerDemoCommand(program: Command, _context: () => CommandContext): void {
  program.command("demo")
    .description("run the monitor against a simulated Kick on an embedded database, until Ctrl-C")
    .action(() => {
      throw new UserFacingError("demo: not implemented yet");
    });
}
