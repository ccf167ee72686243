/**
 * The ground truth of the simulated Kick: which streamers exist, their ids, and whether they are live.
 * The fake HTTP API and the fake Pusher server both read it; tests and the demo change it, and every change is
 * announced to listeners (the fake Pusher turns it into StreamerIsLive / StopStreamBroadcast frames).
 *
 * Besides the present, the world remembers each channel's recent past ({@link FakeWorld.stateAt}), so the fake
 * official API can answer what the world looked like some seconds ago, as the real one does (kick-api.md §1.4,
 * #321: stale data for live streamers). Channels can also be renamed (the slug changes, the user id stays, §1.4
 * "Slugs") and banned (gone from the official API; Pusher's StopStreamBroadcast says `is_banned`, §3.5).
 */

export interface FakeLivestream {
  /** Livestream id, new per broadcast (kick-api.md §3.4). */
  id: number;
  title: string;
  category: { id: number; name: string };
  startedAt: Date;
  viewers: number;
  language: string;
}

export interface FakeStreamer {
  slug: string;
  broadcasterUserId: number;
  /** The Pusher channel id (kick-api.md §3.4: never derived from the user id). */
  channelId: number;
  chatroomId: number;
  description: string;
  live: FakeLivestream | null;
  /** The broadcast shown while offline: the last one, or null if the channel never streamed. */
  lastLivestream: FakeLivestream | null;
  /** Banned channels are absent from the official API's answers (§1.3: "not found" is absence). */
  banned: boolean;
}

/** What a channel looked like at some moment ({@link FakeWorld.stateAt}). */
export interface FakeChannelState {
  live: FakeLivestream | null;
  lastLivestream: FakeLivestream | null;
}

export type WorldChange =
  | { kind: "live"; streamer: FakeStreamer; livestream: FakeLivestream }
  | {
    kind: "offline";
    streamer: FakeStreamer;
    livestream: FakeLivestream;
    endedAt: Date;
    /** The broadcast ended because the channel was banned (Pusher says `is_banned: true`, §3.5). */
    banned: boolean;
  }
  | { kind: "renamed"; streamer: FakeStreamer; from: string }
  /** The title or category of a live broadcast changed (a webhook `livestream.metadata.updated`, §1.9.2). */
  | { kind: "retitled"; streamer: FakeStreamer; livestream: FakeLivestream };

/** One step of a channel's past: from `at` (ms) on, it looked like this. */
interface TimelineEntry extends FakeChannelState {
  at: number;
}

/** How far back {@link FakeWorld.stateAt} remembers by default: far more than any lag a test sets. */
const DEFAULT_MEMORY_MS = 15 * 60_000;

/** One change of the ground truth, as {@link FakeWorld.history} keeps it. */
export interface WorldHistoryEntry {
  slug: string;
  type: "online" | "offline";
  /** The stream's start time (online) or end time (offline). */
  at: Date;
  livestreamId: number;
}

/** One title or category change of a live broadcast, as {@link FakeWorld.titleHistory} keeps it. */
export interface WorldTitleEntry {
  slug: string;
  title: string;
  category: string;
  at: Date;
  livestreamId: number;
}

export interface GoLiveOptions {
  title?: string;
  category?: string;
  viewers?: number;
  startedAt?: Date;
  livestreamId?: number;
}

/** In-memory streamer state with change notification. */
export class FakeWorld {
  readonly streamers = new Map<string, FakeStreamer>();
  /**
   * Every goLive / goOffline that changed something, in order: the ground truth a soak compares with. Kept only
   * with `keepHistory` (the demo runs for days).
   */
  readonly history: WorldHistoryEntry[] = [];
  /** Every {@link retitle} of a live broadcast, in order (with `keepHistory`): the truth of `title` events. */
  readonly titleHistory: WorldTitleEntry[] = [];
  readonly #keepHistory: boolean;
  readonly #memoryMs: number;
  /** Each channel's recent past, by broadcaster user id (which survives a rename), oldest first. */
  readonly #timelines = new Map<number, TimelineEntry[]>();
  #listeners = new Set<(change: WorldChange) => void>();
  #nextLivestreamId = 74_331_109;
  #nextUserId = 1_000;

  /**
   * `keepHistory` keeps {@link history}; `memoryMs` is how far back {@link stateAt} remembers (default 15 min;
   * older moments answer the oldest state kept).
   */
  constructor(options: { keepHistory?: boolean; memoryMs?: number } = {}) {
    this.#keepHistory = options.keepHistory ?? false;
    this.#memoryMs = options.memoryMs ?? DEFAULT_MEMORY_MS;
  }

  /** Adds a streamer; ids default to distinct values that never coincide (as on Kick). */
  addStreamer(
    slug: string,
    ids: Partial<Pick<FakeStreamer, "broadcasterUserId" | "channelId" | "chatroomId">> = {},
  ): FakeStreamer {
    const userId = ids.broadcasterUserId ?? this.#nextUserId++;
    const streamer: FakeStreamer = {
      slug,
      broadcasterUserId: userId,
      channelId: ids.channelId ?? userId * 10 + 7,
      chatroomId: ids.chatroomId ?? userId * 10 + 3,
      description: `${slug}'s channel`,
      live: null,
      lastLivestream: null,
      banned: false,
    };
    this.streamers.set(slug, streamer);
    this.#remember(streamer);
    return streamer;
  }

  /** The streamer with this slug, or throws (a test bug, not a runtime condition). */
  get(slug: string): FakeStreamer {
    const streamer = this.streamers.get(slug);
    if (!streamer) throw new Error(`FakeWorld has no streamer ${JSON.stringify(slug)}`);
    return streamer;
  }

  /** Starts a broadcast and announces it. Going live while live restarts with a new livestream id. */
  goLive(slug: string, options: GoLiveOptions = {}): FakeLivestream {
    const streamer = this.get(slug);
    const livestream: FakeLivestream = {
      id: options.livestreamId ?? this.#nextLivestreamId++,
      title: options.title ?? `${slug} live`,
      category: { id: 15, name: options.category ?? "Just Chatting" },
      startedAt: options.startedAt ?? new Date(),
      viewers: options.viewers ?? 100,
      language: "en",
    };
    streamer.live = livestream;
    streamer.lastLivestream = livestream;
    this.#remember(streamer);
    if (this.#keepHistory) {
      this.history.push({
        slug,
        type: "online",
        at: livestream.startedAt,
        livestreamId: livestream.id,
      });
    }
    this.#emit({ kind: "live", streamer, livestream });
    return livestream;
  }

  /**
   * Changes the title and/or category of a live broadcast and announces it; false (nothing happens) when the
   * streamer is offline or nothing changes. The broadcast is replaced, not edited, so {@link stateAt} keeps
   * answering the old title for moments before the change (the API's lag, §1.4).
   */
  retitle(
    slug: string,
    change: { title?: string; category?: string },
    at: Date = new Date(),
  ): boolean {
    const streamer = this.get(slug);
    const live = streamer.live;
    if (live === null) return false;
    const title = change.title ?? live.title;
    const category = change.category === undefined
      ? live.category
      : { id: live.category.id + 1, name: change.category };
    if (title === live.title && category.name === live.category.name) return false;
    const livestream: FakeLivestream = { ...live, title, category };
    streamer.live = livestream;
    streamer.lastLivestream = livestream;
    this.#remember(streamer);
    if (this.#keepHistory) {
      this.titleHistory.push({ slug, title, category: category.name, at, livestreamId: live.id });
    }
    this.#emit({ kind: "retitled", streamer, livestream });
    return true;
  }

  /** Ends the broadcast (if any) and announces it. */
  goOffline(slug: string, endedAt: Date = new Date()): void {
    this.#end(this.get(slug), endedAt, false);
  }

  /**
   * Renames a channel: the slug changes, the broadcaster user id and the channel id stay (kick-api.md §1.4
   * "Slugs": key state on `broadcaster_user_id`). The old slug then finds nothing, anywhere.
   */
  rename(slug: string, newSlug: string): FakeStreamer {
    const streamer = this.get(slug);
    if (this.streamers.has(newSlug)) {
      throw new Error(`FakeWorld already has a streamer ${JSON.stringify(newSlug)}`);
    }
    this.streamers.delete(slug);
    streamer.slug = newSlug;
    this.streamers.set(newSlug, streamer);
    this.#emit({ kind: "renamed", streamer, from: slug });
    return streamer;
  }

  /**
   * Bans a channel: a live broadcast ends (Pusher's StopStreamBroadcast carries `is_banned: true`, §3.5) and the
   * official API stops returning the channel. Lookups in the world itself ({@link get}) still find it.
   */
  ban(slug: string, at: Date = new Date()): void {
    const streamer = this.get(slug);
    streamer.banned = true;
    this.#end(streamer, at, true);
  }

  /** Lifts a ban: the official API returns the channel again (offline until it goes live). */
  unban(slug: string): void {
    this.get(slug).banned = false;
  }

  /**
   * What `streamer` looked like at `atMs` (ms since the epoch), as far back as the world remembers: the state it
   * had from the last change at or before that moment. A moment before its first remembered change answers the
   * oldest state kept.
   */
  stateAt(streamer: FakeStreamer, atMs: number): FakeChannelState {
    const timeline = this.#timelines.get(streamer.broadcasterUserId);
    if (timeline === undefined || timeline.length === 0) {
      return { live: streamer.live, lastLivestream: streamer.lastLivestream };
    }
    for (let i = timeline.length - 1; i > 0; i--) {
      if (timeline[i].at <= atMs) return timeline[i];
    }
    return timeline[0];
  }

  /** Calls `listener` on every change; returns a function that stops it. */
  onChange(listener: (change: WorldChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #end(streamer: FakeStreamer, endedAt: Date, banned: boolean): void {
    const livestream = streamer.live;
    if (!livestream) return;
    streamer.live = null;
    this.#remember(streamer);
    if (this.#keepHistory) {
      this.history.push({
        slug: streamer.slug,
        type: "offline",
        at: endedAt,
        livestreamId: livestream.id,
      });
    }
    this.#emit({ kind: "offline", streamer, livestream, endedAt, banned });
  }

  /** Appends the streamer's present to its timeline (at the wall-clock time of the change), forgetting old steps. */
  #remember(streamer: FakeStreamer): void {
    const now = Date.now();
    let timeline = this.#timelines.get(streamer.broadcasterUserId);
    if (timeline === undefined) {
      timeline = [];
      this.#timelines.set(streamer.broadcasterUserId, timeline);
    }
    timeline.push({ at: now, live: streamer.live, lastLivestream: streamer.lastLivestream });
    // Keep the newest step at or before the memory's edge: it is the state from then until the next one.
    let drop = 0;
    while (drop + 1 < timeline.length && timeline[drop + 1].at <= now - this.#memoryMs) drop++;
    if (drop > 0) timeline.splice(0, drop);
  }

  #emit(change: WorldChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
