/**
 * Which event types a listing shows. `events list`, `/api/v1/events` and the SSE stream show `online` and
 * `offline` by default (interface.md documents `type` as one of those, and scripts rely on it); `title`
 * changes (src/monitor/title_machine.ts) are shown only when asked for, with `--types` or `?types=`.
 */
import type { TransitionType } from "./types.ts";

/** Every event type the log holds. */
export const EVENT_TYPES: readonly TransitionType[] = ["online", "offline", "title"];

/** What a listing shows unless asked otherwise: the documented status events. */
export const DEFAULT_EVENT_TYPES: readonly TransitionType[] = ["online", "offline"];

/**
 * Parses a comma-separated list of event types (`online,offline,title`), or says what is wrong with it,
 * naming the allowed values.
 *
 * @example
 * ```ts
 * parseEventTypes("online,title"); // { types: ["online", "title"] }
 * parseEventTypes("live"); // { problem: 'unknown event type "live"; expected online, offline or title' }
 * ```
 */
export function parseEventTypes(
  text: string,
): { types: TransitionType[] } | { problem: string } {
  const types: TransitionType[] = [];
  for (const part of text.split(",").map((p) => p.trim().toLowerCase())) {
    if (part === "") continue;
    const type = EVENT_TYPES.find((t) => t === part);
    if (type === undefined) {
      const shown = part.length > 20 ? `${part.slice(0, 20)}…` : part;
      return {
        problem: `unknown event type ${JSON.stringify(shown)}; expected online, offline or title`,
      };
    }
    if (!types.includes(type)) types.push(type);
  }
  if (types.length === 0) {
    return { problem: "no event type given; expected online, offline or title" };
  }
  return { types };
}
