/**
 * The hot write path: recording Transitions (events, sessions and streamer status) exactly once.
 *
 * `applyTransitions` is set-based, a fixed handful of statements per batch whatever its size, in one
 * transaction and two round trips:
 *   1. lock the batch's streamers (and lease rows), read their state, and insert every event with one
 *      `INSERT … SELECT FROM unnest(…) ON CONFLICT (dedupe_key) DO NOTHING` whose RETURNING says which
 *      are new; one under a stale lease is refused and reported (transition_fencing.ts, issue 16),
 *   2. `planBatch` (pure) replays the new ones in order per streamer and decides the session and status
 *      changes,
 *   3. up to three more unnest statements apply them: close open sessions, insert sessions, update
 *      streamers.
 * `applyTransitionsOneByOne` does the same one transition at a time; it is the benchmark's baseline and the
 * reference the tests compare the set-based writer against.
 */
import type { Db } from "./db.ts";
import type { LiveStatus, StreamerStatus, Transition } from "../domain/types.ts";
import {
  leaseHolds,
  lockStreamers,
  readStreamers,
  type RefusedTransition,
  type StoredStreamerState,
} from "./transition_fencing.ts";

export type { RefusedTransition, StoredStreamerState } from "./transition_fencing.ts";

/** What a batch did: `inserted` transitions took effect; `skipped` ones were replays, duplicates, stale
 * baselines or for unknown streamers. */
export interface ApplyResult {
  /** Transitions that took effect. */
  inserted: number;
  /** Transitions that were replays, duplicates, stale baselines or for unknown streamers. */
  skipped: number;
  /** Transitions refused because their lease is no longer the streamer's (also counted in `skipped`). */
  refused?: RefusedTransition[];
}

/** One transition of a known streamer, in batch order. */
export interface PlanStep {
  /** `streamers.id` of the streamer it is about. */
  streamerId: number;
  /** The transition. */
  transition: Transition;
  /** For non-baseline transitions: whether its event row was newly inserted (false: a replay). */
  newEvent: boolean;
}

/** A session row to insert; `endedAt` is null for the (at most one per streamer) session left open. */
export interface SessionInsert {
  /** `streamers.id`. */
  streamerId: number;
  /** Kick's livestream id, when known. */
  livestreamId: number | null;
  /** When the broadcast started. */
  startedAt: Date;
  /** When it ended; null while open. */
  endedAt: Date | null;
  /** The stream title, if known. */
  title: string | null;
  /** The stream category, if known. */
  category: string | null;
}

/** The writes a batch needs, decided by `planBatch`. */
export interface BatchPlan {
  /** Sessions open before the batch that it closes. */
  closeSessions: { id: number; endedAt: Date }[];
  /** Sessions the batch opens (closed again within it or left open), in order. */
  insertSessions: SessionInsert[];
  /** Final status of each streamer whose status the batch changes. */
  statusUpdates: { streamerId: number; status: LiveStatus; changedAt: Date }[];
  /** How many steps took effect. */
  applied: number;
}

type OpenSession =
  | { kind: "existing"; id: number }
  | { kind: "new"; index: number };

interface Simulated {
  status: StreamerStatus;
  changedAt: Date | null;
  statusChanged: boolean;
  open: OpenSession | null;
}

/**
 * Replays a batch's steps in order against the streamers' starting state and returns the writes to make.
 * Pure: no I/O, so the rules live in one place and are testable without a database.
 *
 * - A new online event closes the open session (ended at its time) and opens a new one.
 * - A new offline event closes the open session.
 * - Either sets the status (and status_changed_at) to its own.
 * - A replayed event (`newEvent: false`) has no effect.
 * - A new event older than the current status (a late arrival) is recorded as history only: it changes
 *   neither sessions nor status, so a session never ends before it started and status never moves back.
 * - A baseline writes no event; unless older than the current status it sets the status and, when online,
 *   opens a session if none is open.
 */
export function planBatch(
  steps: PlanStep[],
  streamers: Map<number, StoredStreamerState>,
): BatchPlan {
  const plan: BatchPlan = { closeSessions: [], insertSessions: [], statusUpdates: [], applied: 0 };
  const simulated = new Map<number, Simulated>();
  for (const step of steps) {
    const start = streamers.get(step.streamerId);
    if (start === undefined) continue;
    let state = simulated.get(step.streamerId);
    if (state === undefined) {
      state = {
        status: start.status,
        changedAt: start.statusChangedAt,
        statusChanged: false,
        open: start.openSessionId === null ? null : { kind: "existing", id: start.openSessionId },
      };
      simulated.set(step.streamerId, state);
    }
    const t = step.transition;
    const notOlder = state.changedAt === null ||
      t.occurredAt.getTime() >= state.changedAt.getTime();
    if (t.baseline) {
      if (!notOlder) continue;
      plan.applied++;
      if (t.type === "online" && state.open === null) openSession(plan, state, step);
    } else {
      if (!step.newEvent) continue;
      plan.applied++;
      // An event older than the current status is history only: it must not end today's session.
      if (!notOlder) continue;
      closeSession(plan, state, t.occurredAt);
      if (t.type === "online") openSession(plan, state, step);
    }
    state.status = t.type;
    state.changedAt = t.occurredAt;
    state.statusChanged = true;
  }
  for (const [streamerId, state] of simulated) {
    if (state.statusChanged && state.status !== "unknown" && state.changedAt !== null) {
      plan.statusUpdates.push({ streamerId, status: state.status, changedAt: state.changedAt });
    }
  }
  return plan;
}

function openSession(plan: BatchPlan, state: Simulated, step: PlanStep): void {
  const t = step.transition;
  plan.insertSessions.push({
    streamerId: step.streamerId,
    livestreamId: t.livestreamId,
    startedAt: t.occurredAt,
    endedAt: null,
    title: t.title,
    category: t.category,
  });
  state.open = { kind: "new", index: plan.insertSessions.length - 1 };
}

function closeSession(plan: BatchPlan, state: Simulated, at: Date): void {
  if (state.open === null) return;
  if (state.open.kind === "existing") plan.closeSessions.push({ id: state.open.id, endedAt: at });
  else plan.insertSessions[state.open.index].endedAt = at;
  state.open = null;
}

/** One newly inserted status event, as a hook inside the writer's transaction sees it. */
export interface InsertedEvent {
  /** `status_events.id`. */
  eventId: number;
  /** `streamers.id` of the streamer it is about. */
  streamerId: number;
  /** The transition that was recorded. */
  transition: Transition;
}

/** Options of {@link applyTransitions}. */
export interface ApplyOptions {
  /**
   * Run inside the batch's transaction after its events are inserted, with the events that were new (a
   * replayed transition is not passed again): what they write commits with the events or not at all (durable
   * sinks, e.g. a notification outbox). A throw rolls the whole batch back.
   */
  inTransaction?: ((tx: Db, events: InsertedEvent[]) => Promise<void>)[];
}

/** The set-based writer; runs in one transaction. See the module comment. */
export async function applyTransitions(
  db: Db,
  transitions: Transition[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const batch = firstOfEachKey(transitions);
  if (batch.length === 0) return { inserted: 0, skipped: transitions.length };
  return await db.transaction(async (tx) => {
    // Issued together: the connection runs them in order (lock first), while this process is already
    // encoding the second. Events of unknown slugs drop out in the insert's join.
    const slugs = [...new Set(batch.map((t) => t.slug))];
    const fenced = batch.some((t) => t.lease !== undefined);
    const [leases, streamers, newKeys] = await Promise.all([
      lockStreamers(tx, slugs, { leases: fenced }),
      readStreamers(tx, slugs),
      insertEvents(tx, batch.filter((t) => !t.baseline)),
    ]);
    const steps: PlanStep[] = [];
    const inserted: InsertedEvent[] = [];
    const refused: RefusedTransition[] = [];
    for (const transition of batch) {
      const state = streamers.get(transition.slug);
      if (state === undefined) continue;
      const current = leases.get(state.id) ?? { owner: null, epoch: 0 };
      if (!leaseHolds(transition, current)) {
        refused.push({ streamerId: state.id, transition, current });
        continue;
      }
      const eventId = newKeys.get(transition.dedupeKey);
      steps.push({ streamerId: state.id, transition, newEvent: eventId !== undefined });
      if (eventId !== undefined) inserted.push({ eventId, streamerId: state.id, transition });
    }
    const byId = new Map([...streamers.values()].map((state) => [state.id, state]));
    const plan = planBatch(steps, byId);
    await writePlan(tx, plan);
    if (inserted.length > 0) {
      for (const hook of options.inTransaction ?? []) await hook(tx, inserted);
    }
    return {
      inserted: plan.applied,
      skipped: transitions.length - plan.applied,
      ...(refused.length > 0 ? { refused } : {}),
    };
  });
}

/** Keeps the first transition of each dedupe key: one real transition is recorded once. */
function firstOfEachKey(transitions: Transition[]): Transition[] {
  const seen = new Set<string>();
  return transitions.filter((t) => {
    if (seen.has(t.dedupeKey)) return false;
    seen.add(t.dedupeKey);
    return true;
  });
}

// Parameter encoding, chosen for speed (a batch of 1,000 is dominated by parsing its parameters otherwise):
// times travel as epoch milliseconds (float8[]; parsing timestamptz text costs ~3 µs per value), raw payloads
// as one JSON array (a text[] of JSON needs heavy escaping), everything else as plain arrays. ROWS FROM zips
// the columns back into rows; WITH ORDINALITY keeps the batch order.
// An event carrying a lease is inserted only while that lease is the streamer's (the rows are locked by
// lockLeases, so this agrees with the refusals applyTransitions reports).
const INSERT_EVENTS = `
  INSERT INTO status_events
         (streamer_id, type, occurred_at, received_at, source, livestream_id, title, category, raw,
          dedupe_key, instance, epoch)
  SELECT s.id, e.type, to_timestamp(e.occurred_ms / 1000), to_timestamp(e.received_ms / 1000),
         e.source, e.livestream_id, e.title, e.category, nullif(e.raw, 'null'::jsonb), e.dedupe_key,
         e.instance, e.epoch
    FROM ROWS FROM (unnest($1::text[]), unnest($2::text[]), unnest($3::float8[]),
                    unnest($4::float8[]), unnest($5::text[]), unnest($6::bigint[]), unnest($7::text[]),
                    unnest($8::text[]), jsonb_array_elements($9::text::jsonb), unnest($10::text[]),
                    unnest($11::text[]), unnest($12::bigint[]))
         WITH ORDINALITY
         AS e(slug, type, occurred_ms, received_ms, source, livestream_id, title, category, raw,
              dedupe_key, instance, epoch, ord)
    JOIN streamers s ON s.slug = e.slug
    LEFT JOIN streamer_leases l ON l.streamer_id = s.id
   WHERE e.epoch IS NULL OR (l.owner = e.instance AND l.epoch = e.epoch)
   ORDER BY e.ord
      ON CONFLICT (dedupe_key) DO NOTHING
  RETURNING dedupe_key, id`;

// The new keys and ids come back as one JSON array in one row: cheaper to decode than a row per event.
const INSERT_EVENTS_KEYS = `
  WITH inserted AS (${INSERT_EVENTS})
  SELECT coalesce(json_agg(json_build_array(dedupe_key, id)), '[]'::json) AS keys FROM inserted`;

/** Inserts the events of known streamers in one statement; returns the new events' ids by dedupe key. */
async function insertEvents(db: Db, ts: Transition[]): Promise<Map<string, number>> {
  if (ts.length === 0) return new Map();
  const [row] = await db.query<{ keys: [string, number][] | string }>(INSERT_EVENTS_KEYS, [
    ts.map((t) => t.slug),
    ts.map((t) => t.type),
    ts.map((t) => t.occurredAt.getTime()),
    ts.map((t) => t.receivedAt.getTime()),
    ts.map((t) => t.source),
    ts.map((t) => t.livestreamId),
    ts.map((t) => cleanText(t.title)),
    ts.map((t) => cleanText(t.category)),
    `[${ts.map((t) => rawJson(t.raw) ?? "null").join(",")}]`,
    ts.map((t) => t.dedupeKey),
    ts.map((t) => t.lease?.instance ?? null),
    ts.map((t) => t.lease?.epoch ?? null),
  ]);
  const pairs = typeof row.keys === "string"
    ? JSON.parse(row.keys) as [string, number][]
    : row.keys;
  return new Map(pairs.map(([key, id]) => [key, Number(id)]));
}

const CLOSE_SESSIONS = `
  UPDATE stream_sessions AS s
     SET ended_at = to_timestamp(c.ended_ms / 1000)
    FROM unnest($1::bigint[], $2::float8[]) AS c(id, ended_ms)
   WHERE s.id = c.id`;

const INSERT_SESSIONS = `
  INSERT INTO stream_sessions (streamer_id, livestream_id, started_at, ended_at, title, category)
  SELECT n.streamer_id, n.livestream_id, to_timestamp(n.started_ms / 1000),
         to_timestamp(n.ended_ms / 1000), n.title, n.category
    FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::float8[], $5::text[], $6::text[])
         WITH ORDINALITY
         AS n(streamer_id, livestream_id, started_ms, ended_ms, title, category, ord)
   ORDER BY n.ord`;

const UPDATE_STATUS = `
  UPDATE streamers AS s
     SET status = u.status, status_changed_at = to_timestamp(u.changed_ms / 1000)
    FROM unnest($1::bigint[], $2::text[], $3::float8[]) AS u(id, status, changed_ms)
   WHERE s.id = u.id`;

/**
 * Applies a plan. The statements are issued together and run in order on the connection: closing first, so
 * the one-open-session index holds at every row.
 */
async function writePlan(db: Db, plan: BatchPlan): Promise<void> {
  const statements: Promise<unknown>[] = [];
  if (plan.closeSessions.length > 0) {
    statements.push(db.query(CLOSE_SESSIONS, [
      plan.closeSessions.map((c) => c.id),
      plan.closeSessions.map((c) => c.endedAt.getTime()),
    ]));
  }
  if (plan.insertSessions.length > 0) {
    const sessions = plan.insertSessions;
    statements.push(db.query(INSERT_SESSIONS, [
      sessions.map((s) => s.streamerId),
      sessions.map((s) => s.livestreamId),
      sessions.map((s) => s.startedAt.getTime()),
      sessions.map((s) => s.endedAt?.getTime() ?? null),
      sessions.map((s) => cleanText(s.title)),
      sessions.map((s) => cleanText(s.category)),
    ]));
  }
  if (plan.statusUpdates.length > 0) {
    statements.push(db.query(UPDATE_STATUS, [
      plan.statusUpdates.map((u) => u.streamerId),
      plan.statusUpdates.map((u) => u.status),
      plan.statusUpdates.map((u) => u.changedAt.getTime()),
    ]));
  }
  await Promise.all(statements);
}

/**
 * The naive writer: the same rules, a few statements per transition, in one transaction. Exists as the
 * benchmark's baseline and as the reference the set-based writer is tested against.
 */
export async function applyTransitionsOneByOne(
  db: Db,
  transitions: Transition[],
): Promise<ApplyResult> {
  return await db.transaction(async (tx) => {
    // Every row locked up front in id order, as the set-based writer does, so the two cannot deadlock.
    await tx.query(
      "SELECT id FROM streamers WHERE slug = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE",
      [[...new Set(transitions.map((t) => t.slug))]],
    );
    let inserted = 0;
    for (const t of firstOfEachKey(transitions)) {
      if (await applyOne(tx, t)) inserted++;
    }
    return { inserted, skipped: transitions.length - inserted };
  });
}

async function applyOne(db: Db, t: Transition): Promise<boolean> {
  const [streamer] = await db.query<{ id: number; statusChangedAt: Date | null }>(
    `SELECT id, status_changed_at AS "statusChangedAt" FROM streamers WHERE slug = $1
        FOR NO KEY UPDATE`,
    [t.slug],
  );
  if (streamer === undefined) return false;
  const at = t.occurredAt.toISOString();
  const notOlder = streamer.statusChangedAt === null ||
    t.occurredAt.getTime() >= streamer.statusChangedAt.getTime();
  if (t.baseline) {
    if (!notOlder) return false;
    if (t.type === "online") {
      await db.query(
        `INSERT INTO stream_sessions (streamer_id, livestream_id, started_at, title, category)
         SELECT $1, $2, $3, $4, $5
          WHERE NOT EXISTS (SELECT 1 FROM stream_sessions WHERE streamer_id = $1 AND ended_at IS NULL)`,
        [streamer.id, t.livestreamId, at, cleanText(t.title), cleanText(t.category)],
      );
    }
  } else {
    const inserted = await db.query<{ id: number }>(
      `INSERT INTO status_events
              (streamer_id, type, occurred_at, received_at, source, livestream_id, title, category,
               raw, dedupe_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10)
           ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id`,
      [
        streamer.id,
        t.type,
        at,
        t.receivedAt.toISOString(),
        t.source,
        t.livestreamId,
        cleanText(t.title),
        cleanText(t.category),
        rawJson(t.raw),
        t.dedupeKey,
      ],
    );
    if (inserted.length === 0) return false;
    if (!notOlder) return true;
    await db.query(
      "UPDATE stream_sessions SET ended_at = $2 WHERE streamer_id = $1 AND ended_at IS NULL",
      [streamer.id, at],
    );
    if (t.type === "online") {
      await db.query(
        `INSERT INTO stream_sessions (streamer_id, livestream_id, started_at, title, category)
         VALUES ($1, $2, $3, $4, $5)`,
        [streamer.id, t.livestreamId, at, cleanText(t.title), cleanText(t.category)],
      );
    }
  }
  await db.query(
    "UPDATE streamers SET status = $2, status_changed_at = $3 WHERE id = $1",
    [streamer.id, t.type, at],
  );
  return true;
}

/** PostgreSQL text cannot hold NUL characters; Kick titles never mean them. */
function cleanText(value: string | null): string | null {
  return value === null ? null : value.replaceAll("\u0000", "");
}

/** The source payload as JSON text for a jsonb column (which cannot hold `\u0000` either). */
function rawJson(raw: unknown): string | null {
  if (raw === undefined) return null;
  const json = JSON.stringify(raw);
  return json === undefined ? null : json.replaceAll("\\u0000", "");
}
