/** `db migrate | health`. */
import type { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import { UnavailableError } from "../lib/errors.ts";
import { type CommandContext, printJson, printLines } from "./context.ts";
import { embeddedDatabaseExists, withStore } from "../resources.ts";

export function registerDbCommands(program: Command, context: () => CommandContext): void {
  const db = program.command("db").description("database schema and health");

  db.command("migrate")
    .description("apply sql/ migrations in order; idempotent; safe to run concurrently")
    .action(async () => {
      const config = context().config();
      const applied = await withStore(config, (store) => store.migrate(), { migrate: false });
      printLines(
        applied.applied.length === 0
          ? "Database schema is up to date."
          : `Applied ${applied.applied.length} migration(s): ${applied.applied.join(", ")}`,
      );
    });

  db.command("health")
    .description("connectivity, server version, schema version, pending migrations, latency")
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const config = context().config();
      if (!config.databaseUrl && !(await embeddedDatabaseExists(config))) {
        // Opening the embedded database would create it: a health check reports, it does not create.
        throw new UnavailableError(
          `No embedded database in ${
            join(config.dataDir, "pgdata")
          } yet; run \`kick-monitor db migrate\` to create it, ` +
            "or set DATABASE_URL to use PostgreSQL",
        );
      }
      const health = await withStore(config, (store) => store.health(), { migrate: false });
      const backend = config.databaseUrl ? "postgres" : "embedded";
      const report = {
        ok: true,
        backend,
        server_version: health.serverVersion,
        schema_version: health.schemaVersion,
        pending_migrations: health.pendingMigrations,
        latency_ms: Math.round(health.latencyMs * 100) / 100,
      };
      if (options.json) return printJson(report);
      printLines(
        `Database:           reachable (${backend})`,
        `Server version:     ${report.server_version}`,
        `Schema version:     ${report.schema_version ?? "none (run: kick-monitor db migrate)"}`,
        `Pending migrations: ${
          report.pending_migrations.length ? report.pending_migrations.join(", ") : "none"
        }`,
        `Round trip:         ${report.latency_ms} ms`,
      );
    });
}
