/**
 * Lease rows (issue 16, sql/005_leases.sql): which monitor watches which streamer, and which one runs the
 * duties that must run once. Rows, not session-level advisory locks, so they survive PgBouncer's transaction
 * pooling and a recycled connection. Every time is the database's `now()`, so the monitors' clocks never
 * matter.
 *
 * The statements are few and set-based whatever the number of streamers: a heartbeat is one statement
 * (instance row, renewal of all the instance's leases, the leader lease, and the figures the fair share needs);
 * claims and hand-overs are one statement per batch. Decisions are made by lease_plan.ts (pure).
 *
 * Locking: `claimStreamers` takes rows `FOR UPDATE SKIP LOCKED`, which conflicts with the `FOR KEY SHARE` the
 * transition writer (transitions.ts) takes on the lease rows it writes under, so a claim never changes an
 * epoch while a write under the old one is in flight, and neither ever waits for the other. Renewal is a plain
 * UPDATE of non-key columns (FOR NO KEY UPDATE), which does not conflict with FOR KEY SHARE either.
 */
import type { Db } from "./db.ts";

/** One of the instance's leases, as the heartbeat renewed it. */
export interface OwnedLease {
  /** `streamers.id`. */
  streamerId: number;
  /** The epoch writes under this lease carry. */
  epoch: number;
  /** The newcomer this row is being handed over to, if any. */
  handoverTo: string | null;
}

/** How many live leases an owner holds, and how many of them are marked for hand-over to whom. */
export interface OwnerCount {
  /** The owning instance. */
  owner: string;
  /** Rows it owns whose lease has not expired. */
  owned: number;
  /** The instance those rows are marked for, or null for the rows not being handed over. */
  handoverTo: string | null;
}

/** What one heartbeat learned. */
export interface Heartbeat {
  /** The instance's leases, all renewed until now + TTL (the caller's `previous.owned` when unchanged). */
  owned: OwnedLease[];
  /** Identifies `owned` (ids, epochs, hand-over targets); pass it back as `previous.digest`. */
  digest: string;
  /** Instances seen within the TTL, this one included, sorted. */
  live: string[];
  /** When each other live instance last renewed (this one: now). */
  lastSeen: Map<string, Date>;
  /** Streamers in all. */
  total: number;
  /** Live leases by owner and hand-over target (before this heartbeat's renewal). */
  counts: OwnerCount[];
  /** Whether this instance holds the leader lease (until now + TTL). */
  leader: boolean;
}

const HEARTBEAT = `
  -- Data-modifying CTEs run once whether or not the query reads them; the reads below see the rows as they
  -- were before this statement.
  WITH me AS (
    INSERT INTO instances (id) VALUES ($1)
    ON CONFLICT (id) DO UPDATE SET last_seen_at = now()
  ), gone AS (
    -- Instances silent for a day (restarts under new hostname-pid names) are forgotten.
    DELETE FROM instances WHERE last_seen_at < now() - interval '1 day' AND id <> $1
  ), renewed AS (
    -- Also takes back this instance's rows that expired while nobody claimed them (e.g. the database was
    -- unreachable from it): no other writer came between, so the epoch stays.
    UPDATE streamer_leases SET expires_at = now() + make_interval(secs => $2::float8)
     WHERE owner = $1
    RETURNING streamer_id, epoch, handover_to
  ), leader AS (
    UPDATE leader_lease
       SET epoch = CASE WHEN owner IS DISTINCT FROM $1 THEN epoch + 1 ELSE epoch END,
           owner = $1, expires_at = now() + make_interval(secs => $2::float8)
     WHERE name = 'leader' AND (owner = $1 OR owner IS NULL OR expires_at < now())
    RETURNING owner
  )
  -- The renewed rows' digest, and the rows themselves only when it differs from the caller's ($3): at
  -- 10,000 leases every TTL / 5, reading and parsing an unchanged list was an idle daemon's main garbage.
  SELECT mine.digest,
         CASE WHEN mine.digest = $3::text THEN NULL ELSE mine.owned END AS owned,
         (SELECT coalesce(json_agg(json_build_array(id, last_seen_at)), '[]'::json) FROM instances
           WHERE last_seen_at > now() - make_interval(secs => $2::float8)) AS live,
         (SELECT count(*) FROM streamer_leases) AS total,
         (SELECT coalesce(json_agg(json_build_array(owner, n, handover_to)), '[]'::json)
            FROM (SELECT owner, handover_to, count(*) AS n FROM streamer_leases
                   WHERE owner IS NOT NULL AND expires_at > now()
                   GROUP BY owner, handover_to) AS c) AS counts,
         (SELECT count(*) FROM leader) AS leader
    FROM (SELECT md5(coalesce(string_agg(streamer_id || ':' || epoch || ':' || coalesce(handover_to, ''),
                                         ',' ORDER BY streamer_id), '')) AS digest,
                 coalesce(json_agg(json_build_array(streamer_id, epoch, handover_to)), '[]'::json) AS owned
            FROM renewed) AS mine`;

/** JSON columns come back parsed from postgres.js and as text from PGlite. */
function json<T>(value: T | string): T {
  return typeof value === "string" ? JSON.parse(value) as T : value;
}

/**
 * One heartbeat, one statement: records the instance as alive, renews every lease it owns (and the leader
 * lease if it holds it or it is free) until now + `ttlSeconds`, and reads what the fair share needs.
 */
export async function heartbeat(
  db: Db,
  options: {
    instance: string;
    ttlSeconds: number;
    /** The last heartbeat's leases and digest: returned as they are when the database has the same. */
    previous?: { digest: string; owned: OwnedLease[] };
  },
): Promise<Heartbeat> {
  const [row] = await db.query<{
    digest: string;
    owned: [number, number, string | null][] | string | null;
    live: [string, string][] | string;
    total: number;
    counts: [string, number, string | null][] | string;
    leader: number;
  }>(HEARTBEAT, [options.instance, options.ttlSeconds, options.previous?.digest ?? null]);
  const lastSeen = new Map(json(row.live).map(([id, at]) => [id, new Date(at)]));
  lastSeen.set(options.instance, new Date());
  const live = new Set(lastSeen.keys());
  return {
    // Indexed, not destructured: destructuring went through the array iterator, 10,000 times a round.
    owned: row.owned === null && options.previous !== undefined
      ? options.previous.owned
      : json(row.owned ?? "[]").map((lease) => ({
        streamerId: Number(lease[0]),
        epoch: Number(lease[1]),
        handoverTo: lease[2],
      })),
    digest: row.digest,
    live: [...live].sort(),
    lastSeen,
    total: Number(row.total),
    counts: json(row.counts).map(([owner, owned, handoverTo]) => ({
      owner,
      owned: Number(owned),
      handoverTo,
    })),
    leader: Number(row.leader) > 0,
  };
}

/** A lease a claim took. */
export interface ClaimedLease {
  /** `streamers.id`. */
  streamerId: number;
  /** The new epoch (unchanged when this instance owned the row already). */
  epoch: number;
  /** Who owned it before (null: nobody); an owner other than this instance means a take-over. */
  previousOwner: string | null;
}

const CLAIM = `
  WITH picked AS (
    SELECT streamer_id, owner AS previous_owner
      FROM streamer_leases
     WHERE handover_to = $1 OR owner IS NULL OR expires_at < now()
     -- Rows handed over to us first (their owner waits for us), then free and expired ones.
     ORDER BY (handover_to = $1) IS NOT TRUE, streamer_id
     LIMIT $3
       FOR UPDATE SKIP LOCKED
  ), claimed AS (
    UPDATE streamer_leases AS l
       SET owner = $1,
           epoch = CASE WHEN l.owner IS DISTINCT FROM $1 THEN l.epoch + 1 ELSE l.epoch END,
           expires_at = now() + make_interval(secs => $2::float8),
           handover_to = NULL
      FROM picked
     WHERE l.streamer_id = picked.streamer_id
    RETURNING l.streamer_id, l.epoch, picked.previous_owner
  ), logged AS (
    INSERT INTO lease_log (streamer_id, epoch, owner)
    SELECT streamer_id, epoch, $1 FROM claimed
     WHERE previous_owner IS DISTINCT FROM $1
    ON CONFLICT DO NOTHING
  )
  SELECT coalesce(json_agg(json_build_array(streamer_id, epoch, previous_owner)), '[]'::json) AS claimed
    FROM claimed`;

/**
 * Claims up to `limit` streamers in one statement: rows handed over to `instance` first, then rows nobody owns
 * or whose lease expired. Rows another transaction holds (a write in flight, another claimer) are skipped, not
 * waited for. Each claim that changes the owner bumps the epoch and is logged in `lease_log`.
 */
export async function claimStreamers(
  db: Db,
  options: { instance: string; ttlSeconds: number; limit: number },
): Promise<ClaimedLease[]> {
  if (options.limit <= 0) return [];
  const [row] = await db.query<{ claimed: [number, number, string | null][] | string }>(CLAIM, [
    options.instance,
    options.ttlSeconds,
    options.limit,
  ]);
  return json(row.claimed).map(([streamerId, epoch, previousOwner]) => ({
    streamerId: Number(streamerId),
    epoch: Number(epoch),
    previousOwner,
  }));
}

/**
 * Marks up to `count` of `instance`'s rows not yet being handed over for hand-over to `to`; the owner keeps
 * watching (and renewing) them until `to` claims them. Returns the streamers marked.
 */
export async function markHandover(
  db: Db,
  options: { instance: string; to: string; count: number },
): Promise<number[]> {
  if (options.count <= 0) return [];
  const rows = await db.query<{ streamer_id: number }>(
    `UPDATE streamer_leases SET handover_to = $2
      WHERE streamer_id IN (SELECT streamer_id FROM streamer_leases
                             WHERE owner = $1 AND handover_to IS NULL
                             ORDER BY streamer_id DESC LIMIT $3)
        AND owner = $1
    RETURNING streamer_id`,
    [options.instance, options.to, options.count],
  );
  return rows.map((row) => Number(row.streamer_id));
}

/** Withdraws `instance`'s hand-over offers to the given instances (dead, or no longer short of streamers). */
export async function cancelHandovers(
  db: Db,
  options: { instance: string; to: string[] },
): Promise<void> {
  if (options.to.length === 0) return;
  await db.query(
    "UPDATE streamer_leases SET handover_to = NULL WHERE owner = $1 AND handover_to = ANY($2::text[])",
    [options.instance, options.to],
  );
}

/**
 * Expires at once every lease of `predecessor`, a monitor known to be dead (it ran on the data directory this
 * monitor now holds the lock of), and forgets its instance row: its streamers are claimable now rather than
 * after the TTL. Returns how many leases were freed.
 */
export async function expireInstance(db: Db, predecessor: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `WITH freed AS (
       UPDATE streamer_leases SET expires_at = '-infinity', handover_to = NULL
        WHERE owner = $1
       RETURNING 1
     ), offers AS (
       UPDATE streamer_leases SET handover_to = NULL WHERE handover_to = $1
     ), leader AS (
       UPDATE leader_lease SET expires_at = '-infinity' WHERE owner = $1
     ), gone AS (
       DELETE FROM instances WHERE id = $1
     )
     SELECT count(*) AS n FROM freed`,
    [predecessor],
  );
  return Number(row.n);
}

/**
 * A graceful stop: frees every lease of `instance` (the others claim them at their next heartbeat, with a new
 * epoch), gives up the leader lease and removes the instance row, so the others' fair share counts it out at
 * once.
 */
export async function releaseInstance(db: Db, instance: string): Promise<void> {
  await db.query(
    `WITH freed AS (
       UPDATE streamer_leases SET owner = NULL, expires_at = '-infinity', handover_to = NULL
        WHERE owner = $1
     ), offers AS (
       UPDATE streamer_leases SET handover_to = NULL WHERE handover_to = $1
     ), leader AS (
       UPDATE leader_lease SET owner = NULL, expires_at = '-infinity' WHERE owner = $1
     )
     DELETE FROM instances WHERE id = $1`,
    [instance],
  );
}

/** What the database knows of a monitor name's last holder ({@link instanceLastSeen}). */
export interface InstanceSighting {
  /** Seconds since it last renewed. */
  silentSeconds: number;
  /** Which process it was: the token {@link beginIncarnation} gave it when it started. */
  incarnation: string;
}

/**
 * When the instance named `instance` last renewed, and which process it was; null when no such instance is
 * recorded (a graceful stop removes the row).
 */
export async function instanceLastSeen(db: Db, instance: string): Promise<InstanceSighting | null> {
  const rows = await db.query<{ silent: number; incarnation: string }>(
    // The incarnation is started_at in microseconds since the epoch, as text: exact, whatever the session's
    // time zone or DateStyle (beginIncarnation returns it the same way).
    `SELECT extract(epoch FROM now() - last_seen_at)::float8 AS silent,
            (extract(epoch FROM started_at) * 1000000)::bigint::text AS incarnation
       FROM instances WHERE id = $1`,
    [instance],
  );
  return rows.length === 0
    ? null
    : { silentSeconds: Number(rows[0].silent), incarnation: rows[0].incarnation };
}

/**
 * Records that a new process now runs under `instance` (its row's started_at is now) and returns the token
 * that tells this process from an earlier one of the same name ({@link InstanceSighting.incarnation}).
 */
export async function beginIncarnation(db: Db, instance: string): Promise<string> {
  const [row] = await db.query<{ incarnation: string }>(
    `INSERT INTO instances AS i (id, started_at, last_seen_at) VALUES ($1, clock_timestamp(), now())
     ON CONFLICT (id) DO UPDATE SET started_at = clock_timestamp(), last_seen_at = now()
     RETURNING (extract(epoch FROM i.started_at) * 1000000)::bigint::text AS incarnation`,
    [instance],
  );
  return row.incarnation;
}

/** A running monitor, as `service status --json` lists it. */
export interface InstanceRecord {
  /** `KICK_MONITOR_INSTANCE`. */
  id: string;
  /** Streamers whose live lease it holds. */
  streamers: number;
  /** Its last heartbeat. */
  lastSeenAt: Date;
}

/** The instances seen within `ttlSeconds`, with how many streamers each owns, by id. */
export async function listInstances(
  db: Db,
  options: { ttlSeconds: number },
): Promise<InstanceRecord[]> {
  const rows = await db.query<{ id: string; streamers: number; last_seen_at: Date }>(
    `SELECT i.id, i.last_seen_at,
            (SELECT count(*) FROM streamer_leases l
              WHERE l.owner = i.id AND l.expires_at > now()) AS streamers
       FROM instances i
      WHERE i.last_seen_at > now() - make_interval(secs => $1::float8)
      ORDER BY i.id`,
    [options.ttlSeconds],
  );
  return rows.map((row) => ({
    id: row.id,
    streamers: Number(row.streamers),
    lastSeenAt: new Date(row.last_seen_at),
  }));
}
