-- kick-monitor schema, version 2: a channel Kick no longer returns (banned, deleted, or renamed while we only
-- knew its slug) is shown as `unknown` with the reason, instead of freezing at its last status
-- (kick-api.md §1.3: an unknown slug or id is simply absent from the answer). `status` keeps what the
-- monitor last knew, so the history stays consistent when the channel comes back.
ALTER TABLE streamers ADD COLUMN unavailable_reason text;
ALTER TABLE streamers ADD COLUMN unavailable_since timestamptz;
