/**
 * The writes of a `title` transition (a title or category change while live, src/monitor/title_machine.ts):
 * its event row goes in with the others (transitions.ts); here the open session takes the new title and
 * category, in the same transaction.
 */
import type { Transition } from "../domain/types.ts";
import type { Db } from "./db.ts";
import { cleanText } from "./sql_text.ts";

/** A new title and category for a session open before the batch (null: unchanged). */
export interface SessionRetitle {
  /** `stream_sessions.id`. */
  id: number;
  /** The new title, if known. */
  title: string | null;
  /** The new category, if known. */
  category: string | null;
}

/** The open session of a streamer during planBatch's replay: stored before the batch, or inserted by it. */
export type OpenSession =
  | { kind: "existing"; id: number }
  | { kind: "new"; index: number };

/** What {@link planRetitle} reads and writes of transitions.ts's BatchPlan and its replay state. */
export interface RetitlePlan {
  /** Sessions the batch opens, with the title and category they start with. */
  insertSessions: { title: string | null; category: string | null }[];
  /** Sessions (existing or opened in this batch) whose title or category a title change sets. */
  retitleSessions: SessionRetitle[];
  /** Transitions the plan applies, counted for ApplyResult.inserted. */
  applied: number;
}

/**
 * Plans a new `title` event (planBatch's rule): it takes effect (counted) and retitles the open session,
 * unless it is older than the current status (history only) or the streamer is not online.
 */
export function planRetitle(
  plan: RetitlePlan,
  state: {
    status: string;
    open: OpenSession | null;
  },
  step: { t: Transition; notOlder: boolean },
): void {
  plan.applied++;
  const open = state.open;
  if (!step.notOlder || state.status !== "online" || open === null) return;
  if (open.kind === "new") retitle(plan.insertSessions[open.index], step.t);
  else retitleExisting(plan.retitleSessions, open.id, step.t);
}

/** Gives a session the title and category a `title` transition carries (a null one keeps the old). */
function retitle(
  session: { title: string | null; category: string | null },
  t: Transition,
): void {
  session.title = t.title ?? session.title;
  session.category = t.category ?? session.category;
}

/** Adds (or updates: the batch's last change wins) the retitle of an existing session. */
function retitleExisting(retitles: SessionRetitle[], id: number, t: Transition): void {
  const existing = retitles.find((r) => r.id === id);
  if (existing !== undefined) retitle(existing, t);
  else retitles.push({ id, title: t.title, category: t.category });
}

const RETITLE_SESSIONS = `
  UPDATE stream_sessions AS s
     SET title = coalesce(r.title, s.title), category = coalesce(r.category, s.category)
    FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(id, title, category)
   WHERE s.id = r.id`;

/** Applies a batch's retitles in one statement. */
export async function writeRetitles(db: Db, retitles: SessionRetitle[]): Promise<void> {
  await db.query(RETITLE_SESSIONS, [
    retitles.map((r) => r.id),
    retitles.map((r) => cleanText(r.title)),
    retitles.map((r) => cleanText(r.category)),
  ]);
}

/** The one-by-one writer's retitle: the streamer's open session, while it is online. */
export async function retitleOpenSession(
  db: Db,
  streamerId: number,
  t: Transition,
): Promise<boolean> {
  await db.query(
    `UPDATE stream_sessions SET title = coalesce($2, title), category = coalesce($3, category)
      WHERE streamer_id = $1 AND ended_at IS NULL
        AND (SELECT status FROM streamers WHERE id = $1) = 'online'`,
    [streamerId, cleanText(t.title), cleanText(t.category)],
  );
  return true;
}
