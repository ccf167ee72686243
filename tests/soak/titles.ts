/**
 * The soak's title changes (issue 13's `title` events): a schedule that retitles live streamers now and then,
 * each with a title used once (so a recorded title names the change it records), and the verdict on the
 * recorded `title` events against the world's truth (FakeWorld.titleHistory).
 *
 * - false: a recorded title the streamer never had through a retitle (e.g. the API's cache flipping back to an
 *   older title, or the go-live title recorded as a change);
 * - duplicated: a title recorded twice;
 * - missing: a change that held long enough to be observed (the status rule's "observable": two polls, the
 *   API's lag and a margin; a webhook reports it sooner, but may be lost) and was live all along, outside the
 *   blind windows of restarts and API faults, yet not recorded. A shorter one may be skipped (a newer title
 *   overtook it), as the poll cannot see it twice.
 */
import type { SeededRandom } from "../../src/sim/random.ts";
import type { FakeWorld, WorldHistoryEntry, WorldTitleEntry } from "../../src/sim/world.ts";
import type { FakeWebhookDelivery } from "../../src/sim/webhooks.ts";

/** The title verdict of a run. */
export interface TitleComparison {
  /** Retitles in the run. */
  changes: number;
  /** Of them, held long enough to be observable while live. */
  observable: number;
  /** `title` events recorded. */
  recorded: number;
  /** Of them, first reported by a webhook. */
  recordedByWebhook: number;
  missing: number;
  duplicated: number;
  falseChanges: number;
  examples: string[];
}

/** A recorded `title` event, as the soak reads it back. */
export interface RecordedTitle {
  slug: string;
  title: string | null;
  at: number;
  source: string;
}

/**
 * Retitles live streamers until `endAt`: every `everyMs` (on average) one live streamer, picked at random,
 * gets a new title (and now and then a new category). Draws from its own random stream, so the status flips
 * of a seed stay what they were without titles.
 */
export async function runTitleSchedule(
  world: FakeWorld,
  slugs: string[],
  options: {
    random: SeededRandom;
    endAt: number;
    everyMs: number;
    sleep: (ms: number) => Promise<void>;
  },
): Promise<void> {
  let counter = 0;
  while (Date.now() < options.endAt) {
    await options.sleep(options.random.int(options.everyMs / 2, (options.everyMs * 3) / 2));
    if (Date.now() >= options.endAt) return;
    const live = slugs.filter((slug) => world.get(slug).live !== null);
    if (live.length === 0) continue;
    const slug = options.random.pick(live);
    counter++;
    const category = options.random.next() < 0.3 ? `Category ${counter}` : undefined;
    world.retitle(slug, { title: `${slug} title ${counter}`, category });
  }
}

/** How long a delivered webhook may take to be recorded: the sender's delay (up to 2 s) and a margin. */
const WEBHOOK_RECORDED_WITHIN_MS = 3_000;

/**
 * The retitles whose `livestream.metadata.updated` was answered 200 (the original or a copy), as
 * `slug\ntitle` keys. Each streamer's metadata deliveries that are not copies follow its retitles in order.
 */
export function deliveredTitles(
  titles: WorldTitleEntry[],
  deliveries: readonly FakeWebhookDelivery[],
): Set<string> {
  const originals = new Map<string, FakeWebhookDelivery[]>();
  const accepted = new Set<string>();
  for (const d of deliveries) {
    if (d.event !== "livestream.metadata.updated") continue;
    if (d.duplicateOf === null) originals.set(d.slug, [...(originals.get(d.slug) ?? []), d]);
    if (d.status === 200) accepted.add(d.duplicateOf ?? d.messageId);
  }
  const out = new Set<string>();
  const next = new Map<string, number>();
  for (const change of titles) {
    const index = next.get(change.slug) ?? 0;
    next.set(change.slug, index + 1);
    const delivery = originals.get(change.slug)?.[index];
    if (delivery !== undefined && accepted.has(delivery.messageId)) {
      out.add(`${change.slug}\n${change.title}`);
    }
  }
  return out;
}

/** Compares the recorded `title` events with the world's retitles (see the module documentation). */
export function compareTitles(
  truth: { titles: WorldTitleEntry[]; statuses: WorldHistoryEntry[] },
  recorded: RecordedTitle[],
  options: {
    observableMs: number;
    endAt: number;
    blindWindows: { from: number; until: number }[];
    /** deliveredTitles(): changes a webhook reported, which must be recorded once they held a moment. */
    delivered: ReadonlySet<string>;
    /**
     * `slug\ntitle` of the recorded online events: a change at the go-live (before the monitor knew the stream
     * had begun) is carried by the online event, not a `title` event (title_machine.ts rule 1).
     */
    carriedByOnline: ReadonlySet<string>;
  },
): TitleComparison {
  const out: TitleComparison = {
    changes: truth.titles.length,
    observable: 0,
    recorded: recorded.length,
    recordedByWebhook: recorded.filter((r) => r.source === "webhook").length,
    missing: 0,
    duplicated: 0,
    falseChanges: 0,
    examples: [],
  };
  const note = (line: string) => {
    if (out.examples.length < 10) out.examples.push(line);
  };
  const known = new Set(truth.titles.map((t) => `${t.slug}\n${t.title}`));
  const seen = new Set<string>();
  for (const r of recorded) {
    const key = `${r.slug}\n${r.title}`;
    if (!known.has(key)) {
      out.falseChanges++;
      note(`false title ${r.slug} ${JSON.stringify(r.title)} at ${new Date(r.at).toISOString()}`);
    } else if (seen.has(key)) {
      out.duplicated++;
      note(`duplicated title ${r.slug} ${JSON.stringify(r.title)}`);
    }
    seen.add(key);
  }
  truth.titles.forEach((change, index) => {
    // It held until the streamer's next retitle or offline (or the run's end).
    const next = truth.titles.slice(index + 1).find((t) => t.slug === change.slug);
    const offline = truth.statuses.find((s) =>
      s.slug === change.slug && s.type === "offline" && s.at.getTime() >= change.at.getTime()
    );
    const until = Math.min(
      next?.at.getTime() ?? Infinity,
      offline?.at.getTime() ?? Infinity,
      options.endAt,
    );
    const held = until - change.at.getTime();
    const key = `${change.slug}\n${change.title}`;
    const byWebhook = options.delivered.has(key) && held >= WEBHOOK_RECORDED_WITHIN_MS;
    // A restart or an API fault while it held: the poll may not have seen it twice (the soak's blind windows).
    const blind = options.blindWindows.some((w) => w.from < until && w.until > change.at.getTime());
    const byPoll = held >= options.observableMs && !blind;
    if (!byWebhook && !byPoll) return;
    out.observable++;
    if (!seen.has(key) && !options.carriedByOnline.has(key)) {
      out.missing++;
      note(
        `missing title ${change.slug} ${
          JSON.stringify(change.title)
        } at ${change.at.toISOString()}`,
      );
    }
  });
  return out;
}
