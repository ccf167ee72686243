/**
 * How the simulated Kick bends an official API item the way the real one does (kick-api.md §1.4, §1.5): fields
 * that are odd but harmless ("drift": an empty category, numbers as strings, an object where a string was),
 * genuinely broken items, and the owner-only fields. Plain functions over the JSON item, before it is serialised;
 * src/sim/kick.ts decides when (the habits' rates, or a test's injection).
 */
import type { SeededRandom } from "./random.ts";

/** A habit one answer showed about one channel. */
export type FakeKickQuirk =
  /** The answer showed an older state than the truth (the API lags). */
  | "lag"
  /** One answer of the opposite state. */
  | "flicker"
  /** Odd-but-harmless fields. */
  | "drift"
  /** A channel item without `stream`: no observation. */
  | "missing-stream"
  /** A channel item whose `stream` lacks `is_live`: no observation. */
  | "missing-is-live";

type Item = Record<string, unknown>;

/** One odd-but-harmless change of a `/public/v1/channels` item. */
const CHANNEL_DRIFTS: readonly ((item: Item, stream: Item) => void)[] = [
  (item) => item.category = {},
  (_item, stream) => {
    stream.thumbnail = { src: stream.thumbnail ?? "", srcset: "" };
  },
  (_item, stream) => stream.custom_tags = null,
  (_item, stream) => stream.custom_tags = "tag1,tag2",
  (item) => item.banner_picture = 42,
  (item, stream) => {
    item.is_affiliate = true;
    item.followers = { count: 3 };
    stream.is_pinned = false;
  },
  (_item, stream) => stream.viewer_count = String(stream.viewer_count ?? 0),
  (item) => item.stream_title = null,
];

/** One odd-but-harmless change of a `/public/v1/livestreams` item. */
const LIVESTREAM_DRIFTS: readonly ((item: Item) => void)[] = [
  (item) => item.category = {},
  (item) => item.thumbnail = { src: item.thumbnail ?? "", srcset: "" },
  (item) => item.custom_tags = null,
  (item) => item.custom_tags = "tag1",
  (item) => item.viewer_count = String(item.viewer_count ?? 0),
  (item) => item.stream_title = null,
  (item) => {
    item.is_affiliate = true;
    item.tags_v2 = [{ id: 1 }];
  },
];

/**
 * Gives a channel item a few odd-but-harmless fields, a different mix each call (the real API's shape drifts
 * over time: §1.4 field history, #152, #205, #391). `is_live`, `start_time`, `slug` and the user id stay intact.
 */
export function driftChannelItem(item: Item, random: SeededRandom): void {
  const stream = item.stream as Item | undefined;
  if (stream === undefined) return;
  for (const drift of pickSome(CHANNEL_DRIFTS, random)) drift(item, stream);
}

/** The same for a `/public/v1/livestreams` item; `channel_id`, `started_at` and the ids stay intact. */
export function driftLivestreamItem(item: Item, random: SeededRandom): void {
  for (const drift of pickSome(LIVESTREAM_DRIFTS, random)) drift(item);
}

/** Breaks a channel item so that it says nothing about the channel's state. */
export function breakChannelItem(item: Item, how: "missing-stream" | "missing-is-live"): void {
  if (how === "missing-stream") {
    delete item.stream;
    return;
  }
  const stream = item.stream as Item | undefined;
  if (stream !== undefined) delete stream.is_live;
}

/**
 * The owner-only fields (§1.4): `active_subscribers_count`, `canceled_subscribers_count`, `stream.key` and
 * `stream.url` carry values on the token owner's channel and are absent from every other.
 */
export function markOwnerOnlyFields(item: Item, isOwner: boolean): void {
  const stream = item.stream as Item | undefined;
  if (isOwner) {
    item.active_subscribers_count = 150;
    item.canceled_subscribers_count = 25;
    if (stream !== undefined) {
      stream.key = "sk_us-west-2_Fak3StreamK3y";
      stream.url = "rtmps://fa723fc1b171.global-contribute.live-video.net:443/app/";
    }
    return;
  }
  delete item.active_subscribers_count;
  delete item.canceled_subscribers_count;
  if (stream !== undefined) {
    delete stream.key;
    delete stream.url;
  }
}

/** At least one of `items`, each further one with even odds. */
function pickSome<T>(items: readonly T[], random: SeededRandom): T[] {
  const first = random.int(0, items.length - 1);
  return items.filter((_, i) => i === first || random.next() < 0.5);
}
