/** Small transitions for tests of the write path that care about order and identity, not content. */
import type { Transition } from "../../src/domain/types.ts";

/** Transition `n` of `slug`: online when `n` is even, offline when odd, `n` seconds after a fixed time. */
export function numberedTransition(slug: string, n: number): Transition {
  const at = new Date(Date.UTC(2026, 11, 3, 12, 0, n));
  return {
    dedupeKey: `${slug}:${n}`,
    slug,
    type: n % 2 === 0 ? "online" : "offline",
    occurredAt: at,
    receivedAt: at,
    source: "pusher",
    livestreamId: n,
    title: null,
    category: null,
    baseline: false,
    raw: null,
  };
}
