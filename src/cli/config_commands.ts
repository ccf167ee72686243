/** `config show | validate | init`. */
import type { Command } from "@commander-js/extra-typings";
import { gatherSettings, validateSettings } from "../config.ts";
import { describeSettings } from "../config_show.ts";
import { ENV_TEMPLATE } from "../config_template.ts";
import { credentialProblems, dataDirProblem, KICK_COMMANDS } from "../config_usability.ts";
import { ConfigError, UserFacingError } from "../lib/errors.ts";
import { type CommandContext, formatTable, printJson, printLines } from "./context.ts";

export function registerConfigCommands(program: Command, context: () => CommandContext): void {
  const config = program.command("config").description(
    "show, validate or create the configuration",
  );

  config.command("show")
    .description('print the effective configuration (secrets as "***")')
    .option("--json", "print one JSON document")
    .action((options) => {
      const settings = gatherSettings({ envFile: context().globals.envFile });
      const rows = describeSettings(settings);
      if (options.json) {
        printJson(
          Object.fromEntries(rows.map((r) => [r.name, { value: r.value, source: r.origin }])),
        );
        return;
      }
      printLines(
        formatTable(
          ["VARIABLE", "VALUE", "SOURCE"],
          rows.map((r) => [r.name, r.value ?? "(unset)", r.origin]),
        ),
      );
    });

  config.command("validate")
    .description(
      "check every variable, the Kick credentials and the data directory; exit 78 listing every " +
        `problem (empty KICK_CLIENT_ID/KICK_CLIENT_SECRET are one: ${KICK_COMMANDS.join(", ")} ` +
        "need them)",
    )
    .option("--json", 'print one JSON document: {"valid": true}, or the error document')
    .action(async (options) => {
      const settings = gatherSettings({ envFile: context().globals.envFile });
      const result = validateSettings(settings.values);
      if (result.config === null) throw new ConfigError(result.problems);
      // Well-formed is not yet usable: "valid" must mean the commands will run.
      const dataDir = await dataDirProblem(result.config.dataDir);
      const problems = [
        ...credentialProblems(result.config),
        ...(dataDir === null ? [] : [dataDir]),
      ];
      if (problems.length > 0) throw new ConfigError(problems);
      if (options.json) return printJson({ valid: true });
      printLines("Configuration is valid.");
    });

  config.command("init")
    .description("write a commented .env template")
    .option("--force", "overwrite an existing file")
    .action(async (options) => {
      const path = context().globals.envFile ?? ".env";
      try {
        await Deno.writeTextFile(path, ENV_TEMPLATE, { createNew: !options.force, mode: 0o600 });
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) {
          throw new UserFacingError(`${path} already exists; use --force to overwrite it`);
        }
        throw error;
      }
      await Deno.chmod(path, 0o600);
      printLines(`Wrote ${path}. Fill in KICK_CLIENT_ID and KICK_CLIENT_SECRET.`);
    });
}
