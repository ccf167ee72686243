-- Several monitors on one database (issue 16): lease rows instead of a session-level advisory lock, which
-- breaks behind PgBouncer's transaction pooling and vanishes with a recycled connection.

-- Every running monitor, renewed by its heartbeat (every KICK_MONITOR_LEASE_TTL / 3). One whose last_seen_at is
-- older than the TTL is dead: its streamers are free to take.
CREATE TABLE instances (
  id           text PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now()
);

-- Who watches each streamer. `epoch` grows by one whenever the owner changes; every write of a transition
-- carries the writer's (owner, epoch) and is refused unless both are still the row's (fencing). An owner over
-- its fair share marks rows `handover_to` a newcomer and keeps watching them until the newcomer claims them.
CREATE TABLE streamer_leases (
  streamer_id bigint PRIMARY KEY REFERENCES streamers (id) ON DELETE CASCADE,
  owner       text,
  epoch       bigint NOT NULL DEFAULT 0,
  expires_at  timestamptz NOT NULL DEFAULT '-infinity',
  handover_to text
);
CREATE INDEX streamer_leases_owner_idx ON streamer_leases (owner);

-- One row per successful claim (an epoch change): rare, and it lets a soak prove no stale write was accepted.
CREATE TABLE lease_log (
  streamer_id bigint NOT NULL REFERENCES streamers (id) ON DELETE CASCADE,
  epoch       bigint NOT NULL,
  owner       text NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (streamer_id, epoch)
);

-- Duties that must run once (webhook subscription sync): held by one monitor, taken over when it expires.
CREATE TABLE leader_lease (
  name       text PRIMARY KEY,
  owner      text,
  epoch      bigint NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO leader_lease (name) VALUES ('leader');

-- Who wrote each event, under which epoch (null: written by a command, not a monitor).
ALTER TABLE status_events ADD COLUMN instance text, ADD COLUMN epoch bigint;

-- Every streamer has its lease row from the start, so writers can lock it and claimers find it.
INSERT INTO streamer_leases (streamer_id) SELECT id FROM streamers;

CREATE FUNCTION streamer_leases_for_new_streamers() RETURNS trigger
  LANGUAGE plpgsql
  -- The schema the migration ran in, whatever search_path the inserting session has.
  SET search_path FROM CURRENT
AS $$
BEGIN
  INSERT INTO streamer_leases (streamer_id) SELECT id FROM added;
  RETURN NULL;
END
$$;

CREATE TRIGGER streamers_lease_rows AFTER INSERT ON streamers
  REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION streamer_leases_for_new_streamers();
