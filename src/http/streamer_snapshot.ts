/**
 * The daemon's in-memory view of every streamer's document (src/domain/documents.ts), shared by the status
 * page and `GET /api/v1/streamers` so that neither reads 10,000 rows per request (issue 14 item 6: p99 ≤ 50
 * ms). Read from the store once, kept current by each committed transition (applied as the store applies it:
 * a transition older than the status changes nothing), and re-read in the background every 30 s for
 * what transitions do not carry (last checked, unavailability, streamers added or removed). Requests never
 * wait for a re-read except the very first.
 */
import { type StreamerDocument, streamerDocument } from "../domain/documents.ts";
import type { Transition } from "../domain/types.ts";
import type { ViewerCount } from "../monitor/viewer_counts.ts";
import { log } from "../lib/log.ts";
import type { Store } from "../store/store.ts";

/** Options of {@link StreamerSnapshot}. */
export interface StreamerSnapshotOptions {
  store: () => Store | null;
  /** Subscribes to committed transitions (Monitor.onCommitted); null until the monitor runs. */
  subscribe: (listener: (transitions: Transition[]) => void) => (() => void) | null;
  /**
   * The latest viewer count of a live streamer (Monitor.viewers); kept beside the documents, not in them:
   * it changes every poll pass, and the JSON documents are the CLI's, which the store cannot give a count.
   */
  viewers?: (slug: string) => ViewerCount | null;
  /** How old the last read may get before a background re-read, ms (default 30,000). */
  refreshMs?: number;
  now?: () => number;
}

/**
 * A streamer's document after `t`, as the store records it (store/transitions.ts): a transition older than
 * the current status is history only; online opens a session unless one is open, offline closes it.
 */
export function applyTransition(document: StreamerDocument, t: Transition): StreamerDocument {
  const at = t.occurredAt.toISOString();
  if (document.status_changed_at !== null && at < document.status_changed_at) return document;
  if (t.type === "offline") {
    return { ...document, status: "offline", status_changed_at: at, session: null };
  }
  return {
    ...document,
    status: "online",
    status_changed_at: at,
    session: document.status === "online" && document.session !== null
      ? document.session
      : { started_at: at, title: t.title, category: t.category },
  };
}

/** Each document's JSON, for as long as the document object is alive (documents are never mutated). */
const jsonByDocument = new WeakMap<StreamerDocument, string>();

/** `JSON.stringify(document)`, computed once per document object. */
export function documentJson(document: StreamerDocument): string {
  let json = jsonByDocument.get(document);
  if (json === undefined) {
    json = JSON.stringify(document);
    jsonByDocument.set(document, json);
  }
  return json;
}

/**
 * Whether two documents say the same, field by field (no allocation: a re-read compares 10,000 every 30 s;
 * comparing their JSON cost ~20 MB more RSS, bench 8). A field added to StreamerDocument must be added here:
 * web_test.ts fails until it is.
 */
export function sameDocument(a: StreamerDocument, b: StreamerDocument): boolean {
  return a.slug === b.slug && a.broadcaster_user_id === b.broadcaster_user_id &&
    a.channel_id === b.channel_id && a.status === b.status && a.status_reason === b.status_reason &&
    a.coverage === b.coverage && a.status_changed_at === b.status_changed_at &&
    a.last_checked_at === b.last_checked_at &&
    (a.session === b.session || (a.session !== null && b.session !== null &&
      a.session.started_at === b.session.started_at && a.session.title === b.session.title &&
      a.session.category === b.session.category));
}

/**
 * `fresh`, with the previous objects of the documents that did not change, or `previous` itself when nothing
 * did: what was derived from them (the API's encoded body, each document's JSON) stays valid, so a re-read
 * that finds nothing new costs no request a re-encode (bench 8).
 */
export function keepUnchanged(
  previous: StreamerDocument[] | null,
  fresh: StreamerDocument[],
): StreamerDocument[] {
  if (previous === null) return fresh;
  const bySlug = new Map(previous.map((document) => [document.slug, document]));
  let same = previous.length === fresh.length;
  const kept = fresh.map((document, i) => {
    const old = bySlug.get(document.slug);
    if (old === undefined || !sameDocument(old, document)) {
      same = false;
      return document;
    }
    if (previous[i] !== old) same = false;
    return old;
  });
  return same ? previous : kept;
}

/** Every streamer's document, from memory; see the module comment. */
export class StreamerSnapshot {
  #options: StreamerSnapshotOptions;
  #documents: StreamerDocument[] | null = null;
  #loadedAt = 0;
  #loading: Promise<void> | null = null;
  /** Transitions committed while a read is under way, applied again on top of what it read. */
  #sinceLoadStarted: Transition[] = [];
  #subscribed = false;
  #memo = new Map<string, unknown>();

  constructor(options: StreamerSnapshotOptions) {
    this.#options = options;
  }

  /** The documents in the store's order; null while the store is not open. */
  async documents(): Promise<readonly StreamerDocument[] | null> {
    const store = this.#options.store();
    if (store === null) return null;
    if (!this.#subscribed) {
      this.#subscribed = this.#options.subscribe((transitions) =>
        this.#apply(transitions)
      ) !== null;
    }
    const now = (this.#options.now ?? Date.now)();
    if (this.#documents === null || !this.#subscribed) {
      await this.#load(store);
    } else if (
      now - this.#loadedAt > (this.#options.refreshMs ?? 30_000) && this.#loading === null
    ) {
      this.#load(store).catch((error) =>
        log.warn("re-reading streamers failed", { error: String(error) })
      );
    }
    return this.#documents;
  }

  /** The latest viewer count of a streamer that is live now; null when unknown or not live. */
  viewersOf(document: StreamerDocument): ViewerCount | null {
    if (document.status !== "online") return null;
    return this.#options.viewers?.(document.slug) ?? null;
  }

  /** `build(documents)`, computed once per change of the documents. */
  derived<T>(key: string, documents: readonly StreamerDocument[], build: () => T): T {
    if (documents !== this.#documents) return build();
    if (!this.#memo.has(key)) this.#memo.set(key, build());
    return this.#memo.get(key) as T;
  }

  #load(store: Store): Promise<void> {
    if (this.#loading !== null) return this.#loading;
    this.#sinceLoadStarted = [];
    const startedAt = (this.#options.now ?? Date.now)();
    this.#loading = (async () => {
      try {
        const read = (await store.listStreamers()).map(streamerDocument);
        const fresh = keepUnchanged(this.#documents, read);
        this.#loadedAt = startedAt;
        if (fresh !== this.#documents) {
          this.#documents = fresh;
          this.#memo.clear();
        }
        const late = this.#sinceLoadStarted;
        this.#sinceLoadStarted = [];
        this.#applyToDocuments(late);
      } finally {
        this.#loading = null;
      }
    })();
    return this.#loading;
  }

  #apply(transitions: Transition[]): void {
    if (this.#loading !== null) this.#sinceLoadStarted.push(...transitions);
    this.#applyToDocuments(transitions);
  }

  #applyToDocuments(transitions: readonly Transition[]): void {
    if (this.#documents === null || transitions.length === 0) return;
    const bySlug = new Map(transitions.map((t) => [t.slug, [] as Transition[]]));
    for (const t of transitions) bySlug.get(t.slug)!.push(t);
    // A new array: what was derived from the old one stays consistent for requests under way.
    this.#documents = this.#documents.map((document) => {
      const mine = bySlug.get(document.slug);
      return mine === undefined ? document : mine.reduce(applyTransition, document);
    });
    this.#memo.clear();
  }
}
