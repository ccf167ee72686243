/**
 * Schema migrations: the numbered files `sql/NNN_name.sql`, applied in order, each exactly once, recorded in
 * `schema_migrations` with the SHA-256 of the file. Safe to run from several processes at once: everything
 * happens in one transaction that first takes an advisory lock, so a second runner waits and then finds the
 * work done. An applied file that was edited afterwards is refused rather than silently diverging.
 */
import type { Db } from "./db.ts";
import { UserFacingError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";

/** Where the migration files live; `deno compile --include sql/` embeds them at the same relative place. */
/** The migration files shipped with kick-monitor (`sql/`). */
export const MIGRATIONS_DIR: URL = new URL("../../sql/", import.meta.url);

/**
 * Advisory lock class of migrations (the second key is the schema), so runners on different schemas of one
 * database don't wait for each other. Any constant works; it must differ from the monitor lock's.
 */
export const MIGRATION_LOCK_CLASS = 0x6b6d0001;

const FILE_PATTERN = /^(\d{3,})_([A-Za-z0-9_-]+)\.sql$/;

/** A migration file as found on disk. */
export interface MigrationFile {
  /** The number the file name starts with. */
  version: number;
  /** The file name, e.g. `001_init.sql`. */
  name: string;
  /** The file's SQL. */
  sql: string;
  /** SHA-256 of the file (line endings normalised to `\n`), lowercase hex. */
  checksum: string;
}

/** A row of `schema_migrations`. */
export interface AppliedMigration {
  /** The number the file name starts with. */
  version: number;
  /** The file name. */
  name: string;
  /** The file's checksum when it was applied. */
  checksum: string;
  /** When it was applied. */
  appliedAt: Date;
}

/** What `db health` and `db migrate` report. */
export interface MigrationStatus {
  /** Applied migrations, oldest version first. */
  applied: AppliedMigration[];
  /** File names not applied yet, in the order they would be applied. */
  pending: string[];
  /** The highest applied version, or null on an empty database. */
  schemaVersion: number | null;
  /** File names applied with a different checksum than the file has now. */
  edited: string[];
}

/** Options of `migrate` and `migrationStatus`. */
export interface MigrateOptions {
  /** Directory of the migration files; `MIGRATIONS_DIR` by default. */
  dir?: URL;
}

/** Reads and checksums the migration files, ordered by version. Throws when two files share a version. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const files: MigrationFile[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = FILE_PATTERN.exec(entry.name);
    if (!entry.isFile || match === null) continue;
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    files.push({
      version: Number(match[1]),
      name: entry.name,
      sql: text,
      checksum: await sha256Hex(text.replaceAll("\r\n", "\n")),
    });
  }
  files.sort((a, b) => a.version - b.version);
  for (let i = 1; i < files.length; i++) {
    if (files[i].version === files[i - 1].version) {
      throw new UserFacingError(
        `Migration files ${files[i - 1].name} and ${files[i].name} share version ${
          files[i].version
        }; ` +
          "each version must be used once",
      );
    }
  }
  return files;
}

/**
 * Applies every pending migration in order, in one transaction under an advisory lock. Idempotent.
 * Returns the names of the files it applied (empty when the schema was up to date).
 * Throws UserFacingError (exit 1) naming the file when an applied migration was edited since.
 */
export async function migrate(
  db: Db,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const files = await loadMigrations(options.dir);
  return await db.transaction(async (tx) => {
    // current_schema() is null when no schema of search_path exists; coalesce keeps the lock key non-null
    // (pg_advisory_xact_lock is strict: with a null argument it would silently lock nothing).
    await tx.query(
      "SELECT pg_advisory_xact_lock($1::int, hashtext(coalesce(current_schema(), '')))",
      [MIGRATION_LOCK_CLASS],
    );
    await tx.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const applied = await readApplied(tx);
    const edited = findEdited(files, applied);
    if (edited.length > 0) throw editedError(edited, files, applied);
    const appliedVersions = new Set(applied.map((row) => row.version));
    const pending = files.filter((file) => !appliedVersions.has(file.version));
    for (const file of pending) {
      await tx.exec(file.sql);
      await tx.query(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
        [file.version, file.name, file.checksum],
      );
      log.info("Applied migration", { migration: file.name });
    }
    return { applied: pending.map((file) => file.name) };
  });
}

/** What is applied, what is pending and what was edited; reads only, works on an empty database. */
export async function migrationStatus(
  db: Db,
  options: MigrateOptions = {},
): Promise<MigrationStatus> {
  const files = await loadMigrations(options.dir);
  const [{ present }] = await db.query<{ present: boolean }>(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS present",
  );
  const applied = present ? await readApplied(db) : [];
  const appliedVersions = new Set(applied.map((row) => row.version));
  return {
    applied,
    pending: files.filter((file) => !appliedVersions.has(file.version)).map((file) => file.name),
    schemaVersion: applied.length > 0 ? applied[applied.length - 1].version : null,
    edited: findEdited(files, applied),
  };
}

async function readApplied(db: Db): Promise<AppliedMigration[]> {
  return await db.query<AppliedMigration>(
    `SELECT version, name, checksum, applied_at AS "appliedAt"
       FROM schema_migrations
      ORDER BY version`,
  );
}

function findEdited(files: MigrationFile[], applied: AppliedMigration[]): string[] {
  const byVersion = new Map(files.map((file) => [file.version, file]));
  return applied
    .filter((row) => {
      const file = byVersion.get(row.version);
      return file !== undefined && file.checksum !== row.checksum;
    })
    .map((row) => byVersion.get(row.version)!.name);
}

function editedError(
  edited: string[],
  files: MigrationFile[],
  applied: AppliedMigration[],
): UserFacingError {
  const name = edited[0];
  const file = files.find((candidate) => candidate.name === name)!;
  const row = applied.find((candidate) => candidate.version === file.version)!;
  const others = edited.length > 1 ? ` (and ${edited.slice(1).join(", ")})` : "";
  return new UserFacingError(
    `Migration sql/${name}${others} was edited after it was applied: the database recorded checksum ` +
      `${row.checksum.slice(0, 12)}…, the file now has ${file.checksum.slice(0, 12)}…. ` +
      "Restore the file and put the change in a new numbered migration",
  );
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
