/**
 * The ground truth of the simulated Kick: which streamers exist, their ids, and whether they are live.
 * The fake HTTP API and the fake Pusher server both read it; tests and the demo change it, and every change is
 * announced to listeners (the fake Pusher turns it into StreamerIsLive / StopStreamBroadcast frames).
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
}

export type WorldChange =
  | { kind: "live"; streamer: FakeStreamer; livestream: FakeLivestream }
  | { kind: "offline"; streamer: FakeStreamer; livestream: FakeLivestream; endedAt: Date };

/** One change of the ground truth, as {@link FakeWorld.history} keeps it. */
export interface WorldHistoryEntry {
  slug: string;
  type: "online" | "offline";
  /** The stream's start time (online) or end time (offline). */
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
  readonly #keepHistory: boolean;
  #listeners = new Set<(change: WorldChange) => void>();
  #nextLivestreamId = 74_331_109;
  #nextUserId = 1_000;

  constructor(options: { keepHistory?: boolean } = {}) {
    this.#keepHistory = options.keepHistory ?? false;
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
    };
    this.streamers.set(slug, streamer);
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

  /** Ends the broadcast (if any) and announces it. */
  goOffline(slug: string, endedAt: Date = new Date()): void {
    const streamer = this.get(slug);
    const livestream = streamer.live;
    if (!livestream) return;
    streamer.live = null;
    if (this.#keepHistory) {
      this.history.push({ slug, type: "offline", at: endedAt, livestreamId: livestream.id });
    }
    this.#emit({ kind: "offline", streamer, livestream, endedAt });
  }

  /** Calls `listener` on every change; returns a function that stops it. */
  onChange(listener: (change: WorldChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(change: WorldChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
