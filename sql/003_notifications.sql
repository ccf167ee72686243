-- kick-monitor schema, version 3: notifications (interface.md "Notifications"). A target is where people are
-- told; a delivery is one committed event for one target, written in the writer's transaction, so "one event
-- gives at most one delivery per target" is the UNIQUE constraint below, across restarts and instances.

CREATE TABLE notification_targets (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name             text NOT NULL UNIQUE,
  kind             text NOT NULL
                   CHECK (kind IN ('discord', 'slack', 'telegram', 'ntfy', 'webhook', 'apprise', 'console')),
  -- Holds secrets (a Discord token, a bot token, a password): shown only through maskTargetUrl.
  url              text NOT NULL,
  -- Only these streamers (ids, so a rename keeps the filter); NULL: every streamer.
  streamer_ids     bigint[],
  events           text[] NOT NULL DEFAULT '{online,offline}',
  mention          text,
  template_online  text,
  template_offline text,
  -- Quiet hours as minutes after local midnight in `timezone` (IANA); both NULL: no quiet hours.
  quiet_start      smallint CHECK (quiet_start BETWEEN 0 AND 1439),
  quiet_end        smallint CHECK (quiet_end BETWEEN 0 AND 1439),
  timezone         text,
  -- Standard Webhooks signing secret (whsec_…), for kind 'webhook'.
  secret           text,
  created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_deliveries (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- NULL for `notify test` messages, which belong to no event.
  event_id        bigint REFERENCES status_events (id) ON DELETE CASCADE,
  target_id       bigint NOT NULL REFERENCES notification_targets (id) ON DELETE CASCADE,
  streamer_id     bigint REFERENCES streamers (id) ON DELETE CASCADE,
  kind            text NOT NULL CHECK (kind IN ('online', 'offline', 'title', 'test')),
  state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  -- What the message says, copied from the event when it was committed.
  slug            text NOT NULL,
  title           text,
  category        text,
  livestream_id   bigint,
  viewers         integer,
  occurred_at     timestamptz NOT NULL,
  -- Offline: the online delivery whose message it edits (Discord, Telegram), and when that stream started.
  reply_to        bigint REFERENCES notification_deliveries (id) ON DELETE SET NULL,
  started_at      timestamptz,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  -- Set when the event came during the target's quiet hours: not sent before then.
  held_until      timestamptz,
  -- A worker's lease: a claim whose worker crashed returns once claimed_until passes.
  claimed_by      text,
  claimed_until   timestamptz,
  last_error      text,
  delivered_at    timestamptz,
  -- The service's id of the message sent (Discord message id, Telegram "chat_id:message_id").
  message_ref     text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, target_id)
);

-- The claim query: pending deliveries by due time (a small partial index: delivered rows drop out).
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at, id)
  WHERE state = 'pending';
-- `notify log --target NAME` (newest first), ON DELETE CASCADE from targets, and finding the online to edit.
CREATE INDEX notification_deliveries_target_idx ON notification_deliveries (target_id, id DESC);
CREATE INDEX notification_deliveries_streamer_idx
  ON notification_deliveries (streamer_id, target_id, occurred_at DESC) WHERE kind = 'online';
CREATE INDEX notification_deliveries_reply_idx ON notification_deliveries (reply_to)
  WHERE reply_to IS NOT NULL;
