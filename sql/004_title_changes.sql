-- kick-monitor schema, version 4: title and category changes while live (issue 13's `title` event, issue 15
-- item 5). A change is one more event type in the one exactly-once log (the same dedupe key rule, the same
-- writer), so `events list` and the API filter it out unless asked (`--types`, `?types=`).

ALTER TABLE status_events DROP CONSTRAINT status_events_type_check;
ALTER TABLE status_events
  ADD CONSTRAINT status_events_type_check CHECK (type IN ('online', 'offline', 'title'));
