/**
 * The streamer page's two pictures, as server-rendered SVG (no chart library: two kinds of rectangles do not
 * earn a dependency): a 90-day strip of sessions (a column per UTC day, hours downward, a tooltip per
 * session) and hours live per week. The geometry is pure and tested on its own (tests/unit/web_test.ts).
 */
import type { SessionDocument } from "../domain/documents.ts";
import { formatDuration, html, type SafeHtml } from "./html.ts";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Days the strip covers. */
export const STRIP_DAYS = 90;
/** Weeks the hours chart covers. */
export const WEEKS = 13;

/** One rectangle of the strip: part of a session within one UTC day. */
export interface StripPiece {
  /** 0 = the oldest day shown, STRIP_DAYS - 1 = today. */
  day: number;
  /** Hours since that day's UTC midnight, 0–24. */
  fromHour: number;
  toHour: number;
  session: SessionDocument;
}

function utcMidnight(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** A session's interval; an open one runs until `nowMs`. Null when it has no start. */
function interval(session: SessionDocument, nowMs: number): [number, number] | null {
  if (session.started_at === null) return null;
  const start = Date.parse(session.started_at);
  const end = session.ended_at === null ? nowMs : Date.parse(session.ended_at);
  return end > start ? [start, end] : [start, start];
}

/** Splits sessions at UTC midnights into the pieces the strip draws, for the STRIP_DAYS up to `nowMs`. */
export function stripPieces(sessions: readonly SessionDocument[], nowMs: number): StripPiece[] {
  const firstDay = utcMidnight(nowMs) - (STRIP_DAYS - 1) * DAY_MS;
  const pieces: StripPiece[] = [];
  for (const session of sessions) {
    const span = interval(session, nowMs);
    if (span === null) continue;
    let from = Math.max(span[0], firstDay);
    const to = Math.min(span[1], nowMs);
    while (from <= to) {
      const midnight = utcMidnight(from);
      const pieceEnd = Math.min(to, midnight + DAY_MS);
      pieces.push({
        day: Math.round((midnight - firstDay) / DAY_MS),
        fromHour: (from - midnight) / HOUR_MS,
        toHour: (pieceEnd - midnight) / HOUR_MS,
        session,
      });
      if (pieceEnd === to) break;
      from = pieceEnd;
    }
  }
  return pieces;
}

/** Hours live in each of the WEEKS weeks (Monday 00:00 UTC to Monday) up to `nowMs`, oldest first. */
export function weeklyHours(
  sessions: readonly SessionDocument[],
  nowMs: number,
): { weekStart: string; hours: number }[] {
  // 1970-01-01 was a Thursday: Monday midnights are 4 days past a multiple of 7 days.
  const monday = Math.floor((nowMs - 4 * DAY_MS) / (7 * DAY_MS)) * 7 * DAY_MS + 4 * DAY_MS;
  const weeks = Array.from({ length: WEEKS }, (_, i) => monday - (WEEKS - 1 - i) * 7 * DAY_MS);
  return weeks.map((start) => {
    const end = start + 7 * DAY_MS;
    let ms = 0;
    for (const session of sessions) {
      const span = interval(session, nowMs);
      if (span === null) continue;
      ms += Math.max(0, Math.min(span[1], end) - Math.max(span[0], start));
    }
    return { weekStart: new Date(start).toISOString().slice(0, 10), hours: ms / HOUR_MS };
  });
}

function describeSession(session: SessionDocument, nowMs: number): string {
  const span = interval(session, nowMs);
  const seconds = span === null ? 0 : (span[1] - span[0]) / 1000;
  const start = session.started_at?.slice(0, 16).replace("T", " ") ?? "?";
  const end = session.ended_at?.slice(0, 16).replace("T", " ") ?? "still live";
  return `${start} – ${end} UTC (${formatDuration(seconds)})${
    session.title ? `: ${session.title}` : ""
  }`;
}

/** The 90-day strip: a column per day, midnight at the top; hovering a session shows what it was. */
export function renderStrip(sessions: readonly SessionDocument[], nowMs: number): SafeHtml {
  const columns = Array.from(
    { length: STRIP_DAYS },
    (_, day) =>
      html`
        <rect class="day" x="${day * 10}" y="0" width="9" height="120" />
      `,
  );
  const rects = stripPieces(sessions, nowMs).map((piece) =>
    html`
      <rect class="live" x="${piece.day * 10}" y="${(piece.fromHour * 5).toFixed(
        1,
      )}" width="9" height="${Math.max(1, (piece.toHour - piece.fromHour) * 5).toFixed(1)}">
        <title>${describeSession(piece.session, nowMs)}</title>
      </rect>
    `
  );
  return html`
    <figure class="chart">
      <svg class="strip" viewBox="0 0 900 120" role="img"
        aria-labelledby="strip-caption">${columns}${rects}</svg>
      <figcaption
        id="strip-caption">Sessions over the last ${STRIP_DAYS} days: one column per day (UTC), oldest on
    the left, midnight at the top. Hover a session for its start, end, duration and title.</figcaption>
    </figure>
  `;
}

/** Hours live per week, as bars with their figures written above them. */
export function renderWeeklyHours(sessions: readonly SessionDocument[], nowMs: number): SafeHtml {
  const weeks = weeklyHours(sessions, nowMs);
  const most = Math.max(1, ...weeks.map((w) => w.hours));
  const bars = weeks.map((week, i) => {
    const height = (week.hours / most) * 90;
    const label = `${Math.round(week.hours * 10) / 10} h`;
    return html`
      <g>
        <rect class="bar" x="${i * 40 + 6}" y="${(110 - height).toFixed(
          1,
        )}" width="28" height="${height.toFixed(1)}">
          <title>Week of ${week.weekStart}: ${label}</title>
        </rect>
        <text x="${i * 40 + 20}" y="${(104 - height).toFixed(1)}">${label}</text>
        <text class="axis" x="${i * 40 + 20}" y="124">${week.weekStart.slice(5)}</text>
      </g>
    `;
  });
  return html`
    <figure class="chart">
      <svg class="weeks" viewBox="0 0 ${WEEKS * 40} 130" role="img"
        aria-labelledby="weeks-caption">${bars}</svg>
      <figcaption
        id="weeks-caption">Hours live per week (weeks start on Monday, UTC), the last ${WEEKS}
    weeks.</figcaption>
    </figure>
  `;
}
