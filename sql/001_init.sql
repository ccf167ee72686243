-- kick-monitor schema, version 1. Never edit after release: add 002_….sql instead
-- (migrate refuses to run when an applied file's checksum changed).
-- Unqualified names: everything is created in the first schema of search_path.

-- Every monitored streamer, and what we last knew about it.
CREATE TABLE streamers (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug                text NOT NULL UNIQUE,
  broadcaster_user_id bigint,
  channel_id          bigint,
  chatroom_id         bigint,
  status              text NOT NULL DEFAULT 'unknown'
                      CHECK (status IN ('online', 'offline', 'unknown')),
  status_changed_at   timestamptz,
  last_checked_at     timestamptz,
  added_at            timestamptz NOT NULL DEFAULT now()
)
-- Status and last_checked_at change all the time and are not indexed: leave room on each page so those
-- updates stay HOT (no new index entries).
WITH (fillfactor = 70);

-- One row per real transition, however many sources or duplicate frames reported it:
-- dedupe_key is the transition's identity, and writers insert with ON CONFLICT DO NOTHING.
CREATE TABLE status_events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  streamer_id   bigint NOT NULL REFERENCES streamers (id) ON DELETE CASCADE,
  type          text NOT NULL CHECK (type IN ('online', 'offline')),
  occurred_at   timestamptz NOT NULL,
  received_at   timestamptz NOT NULL,
  source        text NOT NULL CHECK (source IN ('pusher', 'poll', 'webhook')),
  livestream_id bigint,
  title         text,
  category      text,
  raw           jsonb,
  dedupe_key    text NOT NULL UNIQUE
);

-- `events list --streamer X` and `events list` (both newest first).
CREATE INDEX status_events_streamer_occurred_idx ON status_events (streamer_id, occurred_at DESC);
CREATE INDEX status_events_occurred_idx ON status_events (occurred_at DESC);

-- A broadcast as we saw it: opened by an online transition, closed by the next offline (or online).
CREATE TABLE stream_sessions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  streamer_id   bigint NOT NULL REFERENCES streamers (id) ON DELETE CASCADE,
  livestream_id bigint,
  started_at    timestamptz NOT NULL,
  ended_at      timestamptz,
  title         text,
  category      text,
  peak_viewers  integer
);

-- At most one open session per streamer, enforced by the database rather than by the writers.
CREATE UNIQUE INDEX stream_sessions_one_open_idx ON stream_sessions (streamer_id)
  WHERE ended_at IS NULL;
-- `streamers history SLUG` (newest first).
CREATE INDEX stream_sessions_streamer_started_idx ON stream_sessions (streamer_id, started_at DESC);
