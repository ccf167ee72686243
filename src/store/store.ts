/**
 * The store: every query kick-monitor makes, behind one class, over either backend of db.ts.
 * Nothing outside src/store/ writes SQL (STYLE.md).
 */
import { join } from "node:path";
import type { Transition } from "../domain/types.ts";
import { UserFacingError } from "../lib/errors.ts";
import { type Db, type DbKind, openPostgres, quoteIdentifier } from "./db.ts";
import { openPglite, PgliteDb } from "./pglite_db.ts";
import { type InstanceRecord, listInstances } from "./leases.ts";
import { migrate, type MigrateOptions, type MigrationStatus, migrationStatus } from "./migrate.ts";
import {
  type ApplyOptions,
  type ApplyResult,
  applyTransitions,
  applyTransitionsOneByOne,
} from "./transitions.ts";

export type { ApplyOptions, ApplyResult, InsertedEvent } from "./transitions.ts";
export type { AppliedMigration, MigrateOptions, MigrationStatus } from "./migrate.ts";
export type { Db, DbKind } from "./db.ts";
export type { Transition } from "../domain/types.ts";
export {
  type EventFilter,
  type EventRecord,
  type NewStreamer,
  type OpenSessionRecord,
  type SessionRecord,
  shownStatus,
  type StoreHealth,
  type StreamerIds,
  type StreamerRecord,
} from "./records.ts";
import type {
  EventFilter,
  EventRecord,
  NewStreamer,
  SessionRecord,
  StoreHealth,
  StreamerIds,
  StreamerRecord,
} from "./records.ts";
export type { InstanceRecord } from "./leases.ts";

/** Options of `openStore`. */
export interface StoreOptions {
  /** A `postgres://` URL: use that server. Wins over the other options. */
  databaseUrl?: string;
  /** Without a URL: the embedded database lives in `${dataDir}/pgdata`. */
  dataDir?: string;
  /** Put every table (schema_migrations too) in this schema, created if missing. */
  schema?: string;
  /** Without a URL: an embedded database in memory (tests, demos). */
  inMemory?: boolean;
}

const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Opens the store: PostgreSQL when `databaseUrl` is set, else the embedded database in `dataDir` (or in
 * memory with `inMemory`). Does not migrate. Throws UnavailableError (exit 69) when the database cannot be
 * reached or opened.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const schema = options.schema;
  if (schema !== undefined && !SCHEMA_PATTERN.test(schema)) {
    throw new UserFacingError(
      `Schema name ${
        JSON.stringify(schema)
      } is not usable; expected letters, digits and "_" (at most 63, not starting with a digit)`,
    );
  }
  let db: Db;
  if (options.databaseUrl !== undefined) {
    db = await openPostgres(options.databaseUrl, { searchPath: schema });
  } else if (options.inMemory) {
    db = await openPglite();
  } else if (options.dataDir !== undefined) {
    db = await openPglite(join(options.dataDir, "pgdata"));
  } else {
    throw new Error("openStore needs databaseUrl, dataDir or inMemory");
  }
  try {
    if (schema !== undefined) await useSchema(db, schema);
  } catch (error) {
    await db.close();
    throw error;
  }
  return new Store(db, schema ?? null);
}

/** Creates the schema if missing and, on PGlite (one session), points search_path at it. */
async function useSchema(db: Db, schema: string): Promise<void> {
  try {
    await db.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
  } catch (error) {
    // Two processes creating it at once: the loser gets a unique violation; the schema exists either way.
    const code = (error as { code?: unknown }).code;
    if (code !== "23505" && code !== "42P06") throw error;
  }
  // On PostgreSQL every pooled connection already starts with this search_path (db.ts).
  if (db instanceof PgliteDb) {
    await db.configureSession(`SET search_path TO ${quoteIdentifier(schema)}`);
  }
}

/** Every query kick-monitor makes. Open with `openStore`; close when done. */
export class Store {
  /** The underlying database, for what the store does not cover (tests, benchmarks). */
  readonly db: Db;
  /** Which backend: a PostgreSQL server or the embedded PGlite. */
  readonly kind: DbKind;
  /** The schema everything lives in, or null for the default search_path. */
  readonly schema: string | null;

  /** A store over an open database; `openStore` is the usual way to get one. */
  constructor(db: Db, schema: string | null = null) {
    this.db = db;
    this.kind = db.kind;
    this.schema = schema;
  }

  /** Closes the database connection(s). */
  async close(): Promise<void> {
    await this.db.close();
  }

  /** Applies pending migrations (idempotent, safe concurrently); returns the files applied. */
  async migrate(options: MigrateOptions = {}): Promise<{ applied: string[] }> {
    return await migrate(this.db, options);
  }

  /** Applied, pending and edited migrations. */
  async migrationStatus(options: MigrateOptions = {}): Promise<MigrationStatus> {
    return await migrationStatus(this.db, options);
  }

  /** Connectivity, server version, schema version, pending migrations and round-trip latency. */
  async health(): Promise<StoreHealth> {
    const started = performance.now();
    const [row] = await this.db.query<{ version: string }>(
      "SELECT current_setting('server_version') AS version",
    );
    const latencyMs = Math.round((performance.now() - started) * 100) / 100;
    const status = await this.migrationStatus();
    return {
      serverVersion: row.version,
      schemaVersion: status.schemaVersion,
      pendingMigrations: status.pending,
      latencyMs,
    };
  }

  /**
   * Adds streamers; adding one twice is harmless. For one already present, the ids given here fill in its
   * ids (a null or missing id never clears a known one). Slugs are expected normalised (src/domain/slug.ts).
   */
  async addStreamers(rows: NewStreamer[]): Promise<{ added: string[]; existing: string[] }> {
    // One row per slug (a later non-null id wins), or ON CONFLICT would touch a row twice.
    const bySlug = new Map<string, NewStreamer>();
    for (const row of rows) {
      const before = bySlug.get(row.slug);
      bySlug.set(row.slug, {
        slug: row.slug,
        broadcasterUserId: row.broadcasterUserId ?? before?.broadcasterUserId ?? null,
        channelId: row.channelId ?? before?.channelId ?? null,
        chatroomId: row.chatroomId ?? before?.chatroomId ?? null,
      });
    }
    const unique = [...bySlug.values()];
    if (unique.length === 0) return { added: [], existing: [] };
    // Slug order for the rows the insert adds (its unique-index waits), and the rows already there locked
    // first in id order: the one lock order of every multi-row statement (see markChecked).
    const sorted = [...unique].sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
    const slugs = unique.map((row) => row.slug);
    return await this.db.transaction(async (tx) => {
      const present = await tx.query<{ slug: string }>(
        "SELECT slug FROM streamers WHERE slug = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE",
        [slugs],
      );
      await tx.query(
        `INSERT INTO streamers AS s (slug, broadcaster_user_id, channel_id, chatroom_id)
         SELECT u.slug, u.broadcaster_user_id, u.channel_id, u.chatroom_id
           FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
                AS u(slug, broadcaster_user_id, channel_id, chatroom_id)
             ON CONFLICT (slug) DO UPDATE
            SET broadcaster_user_id = coalesce(excluded.broadcaster_user_id, s.broadcaster_user_id),
                channel_id = coalesce(excluded.channel_id, s.channel_id),
                chatroom_id = coalesce(excluded.chatroom_id, s.chatroom_id)
          WHERE excluded.broadcaster_user_id IS NOT NULL
             OR excluded.channel_id IS NOT NULL
             OR excluded.chatroom_id IS NOT NULL`,
        [
          sorted.map((row) => row.slug),
          sorted.map((row) => row.broadcasterUserId),
          sorted.map((row) => row.channelId ?? null),
          sorted.map((row) => row.chatroomId ?? null),
        ],
      );
      const existingSet = new Set(present.map((row) => row.slug));
      return {
        added: slugs.filter((slug) => !existingSet.has(slug)),
        existing: slugs.filter((slug) => existingSet.has(slug)),
      };
    });
  }

  /** Removes streamers with their events and sessions; reports which slugs were not there. */
  async removeStreamers(slugs: string[]): Promise<{ removed: string[]; missing: string[] }> {
    const unique = [...new Set(slugs)];
    if (unique.length === 0) return { removed: [], missing: [] };
    // Rows locked in id order first (FOR UPDATE: a delete's lock), as every multi-row statement does.
    const rows = await this.db.query<{ slug: string }>(
      `WITH doomed AS (
         SELECT id FROM streamers WHERE slug = ANY($1::text[]) ORDER BY id FOR UPDATE
       )
       DELETE FROM streamers AS s USING doomed WHERE s.id = doomed.id RETURNING s.slug`,
      [unique],
    );
    const removedSet = new Set(rows.map((row) => row.slug));
    return {
      removed: unique.filter((slug) => removedSet.has(slug)),
      missing: unique.filter((slug) => !removedSet.has(slug)),
    };
  }

  /**
   * A fingerprint of who is monitored and with which ids: it changes when a streamer is added, removed or
   * given an id. The daemon asks for this every few seconds and re-reads the whole list only when it changed.
   */
  async streamerListVersion(): Promise<string> {
    const [row] = await this.db.query<{ version: string }>(
      `SELECT count(*) || ':' || coalesce(md5(string_agg(
                id || ':' || slug || ':' || coalesce(broadcaster_user_id, -1) || ':' ||
                coalesce(channel_id, -1) || ':' || coalesce(chatroom_id, -1), ',' ORDER BY id)), '')
                AS version
         FROM streamers`,
    );
    return row.version;
  }

  /** Every monitored streamer with its open session, ordered by slug. */
  async listStreamers(): Promise<StreamerRecord[]> {
    const rows = await this.db.query<StreamerRow>(`${SELECT_STREAMERS} ORDER BY s.slug`);
    return rows.map(toStreamerRecord);
  }

  /** One streamer, or null when it is not monitored. */
  async getStreamer(slug: string): Promise<StreamerRecord | null> {
    const rows = await this.db.query<StreamerRow>(`${SELECT_STREAMERS} WHERE s.slug = $1`, [slug]);
    return rows.length === 0 ? null : toStreamerRecord(rows[0]);
  }

  /** Changes the ids given (a key left out stays; null clears). Returns false when the slug is unknown. */
  async setStreamerIds(slug: string, ids: StreamerIds): Promise<boolean> {
    const rows = await this.db.query<{ id: number }>(
      `UPDATE streamers
          SET channel_id = CASE WHEN $2::boolean THEN $3::bigint ELSE channel_id END,
              chatroom_id = CASE WHEN $4::boolean THEN $5::bigint ELSE chatroom_id END,
              broadcaster_user_id = CASE WHEN $6::boolean THEN $7::bigint ELSE broadcaster_user_id END
        WHERE slug = $1
    RETURNING id`,
      [
        slug,
        ids.channelId !== undefined,
        ids.channelId ?? null,
        ids.chatroomId !== undefined,
        ids.chatroomId ?? null,
        ids.broadcasterUserId !== undefined,
        ids.broadcasterUserId ?? null,
      ],
    );
    return rows.length > 0;
  }

  /**
   * Records that Kick answered for these streamers at `at` (one statement); a streamer Kick answers for is
   * available again. The rows are locked in id order first: a plain `UPDATE … WHERE slug = ANY(…)` locks them
   * in scan order and deadlocked with the writer, which locks the same rows in id order (issue 11, item 8).
   */
  async markChecked(slugs: string[], at: Date): Promise<void> {
    if (slugs.length === 0) return;
    await this.db.query(
      `WITH locked AS (
         SELECT id FROM streamers WHERE slug = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE
       )
       UPDATE streamers AS s
          SET last_checked_at = $2, unavailable_reason = NULL, unavailable_since = NULL
         FROM locked WHERE s.id = locked.id`,
      [[...new Set(slugs)], at.toISOString()],
    );
  }

  /**
   * Marks streamers Kick no longer returns, with the reason (kept from the first time it was seen). Rows are
   * locked in id order, like every statement that locks several streamers.
   */
  async markUnavailable(slugs: string[], reason: string, at: Date): Promise<void> {
    if (slugs.length === 0) return;
    await this.db.query(
      `WITH locked AS (
         SELECT id FROM streamers
          WHERE slug = ANY($1::text[]) AND unavailable_reason IS DISTINCT FROM $2
          ORDER BY id FOR NO KEY UPDATE
       )
       UPDATE streamers AS s
          SET unavailable_reason = $2, unavailable_since = coalesce(s.unavailable_since, $3)
         FROM locked WHERE s.id = locked.id`,
      [[...new Set(slugs)], reason, at.toISOString()],
    );
  }

  /**
   * Follows a channel Kick renamed (found by its broadcaster user id under a new slug): the streamer keeps
   * its id, history and sessions. Returns false when the old slug is not monitored or the new one already is
   * (then both rows stay as they are, and the caller says so).
   */
  async renameStreamer(slug: string, newSlug: string): Promise<boolean> {
    const rows = await this.db.query<{ id: number }>(
      `UPDATE streamers SET slug = $2
        WHERE slug = $1 AND NOT EXISTS (SELECT 1 FROM streamers WHERE slug = $2)
    RETURNING id`,
      [slug, newSlug],
    );
    return rows.length > 0;
  }

  /**
   * Records transitions in order, in one transaction, idempotently: a replayed transition (same dedupe key)
   * changes nothing, and transitions of unknown streamers are skipped. Set-based: a fixed number of
   * statements per batch (see transitions.ts).
   */
  async applyTransitions(transitions: Transition[], options?: ApplyOptions): Promise<ApplyResult> {
    return await applyTransitions(this.db, transitions, options);
  }

  /** The same as `applyTransitions`, one transition at a time: the benchmark's baseline only. */
  async applyTransitionsOneByOne(transitions: Transition[]): Promise<ApplyResult> {
    return await applyTransitionsOneByOne(this.db, transitions);
  }

  /** Status events, newest first. */
  async listEvents(filter: EventFilter): Promise<EventRecord[]> {
    // Fixed fragments, values always parameters; one statement text per filter combination keeps the
    // indexes usable (a catch-all "$1 IS NULL OR …" would not be).
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filter.slug !== undefined) {
      params.push(filter.slug);
      conditions.push(`s.slug = $${params.length}`);
    }
    if (filter.since !== undefined) {
      params.push(filter.since.toISOString());
      conditions.push(`e.occurred_at >= $${params.length}::timestamptz`);
    }
    if (filter.before !== undefined) {
      // The listing's own order (occurred_at, id), so a page never skips or repeats an event.
      params.push(filter.before.occurredAt.toISOString());
      const occurredAt = `$${params.length}::timestamptz`;
      params.push(filter.before.id);
      conditions.push(`(e.occurred_at, e.id) < (${occurredAt}, $${params.length}::bigint)`);
    }
    params.push(limitOf(filter.limit));
    const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
    return await this.db.query<EventRecord>(
      `SELECT e.id, s.slug, e.type, e.occurred_at AS "occurredAt", e.received_at AS "receivedAt",
              e.source, e.livestream_id AS "livestreamId", e.title
         FROM status_events e
         JOIN streamers s ON s.id = e.streamer_id
         ${where}
        ORDER BY e.occurred_at DESC, e.id DESC
        LIMIT $${params.length}`,
      params,
    );
  }

  /** A streamer's sessions, newest first; empty for an unknown slug. */
  async listSessions(slug: string, limit: number): Promise<SessionRecord[]> {
    return await this.db.query<SessionRecord>(
      `SELECT x.livestream_id AS "livestreamId", x.started_at AS "startedAt", x.ended_at AS "endedAt",
              x.title, x.category, x.peak_viewers AS "peakViewers"
         FROM stream_sessions x
         JOIN streamers s ON s.id = x.streamer_id
        WHERE s.slug = $1
        ORDER BY x.started_at DESC, x.id DESC
        LIMIT $2`,
      [slug, limitOf(limit)],
    );
  }

  /**
   * The monitors running on this database and schema (heard from within `ttlSeconds`; see leases.ts), with
   * their shares of the streamers.
   */
  liveInstances(ttlSeconds: number): Promise<InstanceRecord[]> {
    return listInstances(this.db, { ttlSeconds });
  }
}

const SELECT_STREAMERS = `
  SELECT s.id, s.slug, s.broadcaster_user_id AS "broadcasterUserId", s.channel_id AS "channelId",
         s.chatroom_id AS "chatroomId", s.status, s.status_changed_at AS "statusChangedAt",
         s.last_checked_at AS "lastCheckedAt", s.added_at AS "addedAt",
         s.unavailable_reason AS "unavailableReason",
         o.livestream_id AS "sessionLivestreamId", o.started_at AS "sessionStartedAt",
         o.title AS "sessionTitle", o.category AS "sessionCategory"
    FROM streamers s
    LEFT JOIN stream_sessions o ON o.streamer_id = s.id AND o.ended_at IS NULL`;

interface StreamerRow extends Omit<StreamerRecord, "session"> {
  sessionLivestreamId: number | null;
  sessionStartedAt: Date | null;
  sessionTitle: string | null;
  sessionCategory: string | null;
}

function toStreamerRecord(row: StreamerRow): StreamerRecord {
  return {
    id: row.id,
    slug: row.slug,
    broadcasterUserId: row.broadcasterUserId,
    channelId: row.channelId,
    chatroomId: row.chatroomId,
    status: row.status,
    statusChangedAt: row.statusChangedAt,
    lastCheckedAt: row.lastCheckedAt,
    addedAt: row.addedAt,
    unavailableReason: row.unavailableReason,
    session: row.sessionStartedAt === null ? null : {
      livestreamId: row.sessionLivestreamId,
      startedAt: row.sessionStartedAt,
      title: row.sessionTitle,
      category: row.sessionCategory,
    },
  };
}

/** A LIMIT: a whole number, at least 0; null (no limit) for Infinity. */
function limitOf(limit: number): number | null {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : null;
}
