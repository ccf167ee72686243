/** `doctor`: a checklist against whatever the configuration points at (src/doctor/). */
import type { Command } from "@commander-js/extra-typings";
import { normaliseSlug } from "../domain/slug.ts";
import { UserFacingError } from "../lib/errors.ts";
import { failureLine, renderReport } from "../doctor/checklist.ts";
import { DEFAULT_DOCTOR_SLUG, runDoctor } from "../doctor/doctor.ts";
import { type CommandContext, printJson, printLines } from "./context.ts";

export function registerDoctorCommand(program: Command, context: () => CommandContext): void {
  program.command("doctor")
    .description(
      "check configuration, database, Kick credentials, API, website API, Pusher and the clock; " +
        "writes nothing",
    )
    .option("--json", "print one JSON document")
    .option("--slug <slug>", `channel to look up (default: ${DEFAULT_DOCTOR_SLUG})`)
    .action(async (options) => {
      const slug = options.slug === undefined ? DEFAULT_DOCTOR_SLUG : normaliseSlug(options.slug);
      // The configuration is the first check, so a bad one is reported as a line rather than thrown.
      const report = await runDoctor({ slug, loadConfig: () => context().config() });
      if (options.json) printJson(report);
      else printLines(renderReport(report));
      const reason = failureLine(report);
      if (reason !== null) throw new UserFacingError(reason, report.summary.exit_code);
    });
}
