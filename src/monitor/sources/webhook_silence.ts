/**
 * The webhook silence detector (issue 15 item 4), pure: Kick's deliveries can stop without a word (webhooks
 * disabled on the app, the public URL broken, subscriptions gone; kick-api.md §1.9.5), and nothing else would
 * say so while Pusher and the poll keep recording. So when another source sees a subscribed streamer change
 * state, a webhook about that streamer is expected within a window; when none came, webhooks are "silent".
 *
 * A warning, not a failure: the changes are recorded by the other sources, so /healthz stays 200.
 */

/** Options of {@link WebhookSilence}. */
export interface WebhookSilenceOptions {
  /** How long a change may go without a webhook before it counts as silence (default 2 minutes). */
  windowMs?: number;
}

/** What {@link WebhookSilence.check} found. */
export interface SilenceVerdict {
  silent: boolean;
  /** Streamers whose change waits longer than the window, sorted. */
  slugs: string[];
  /** The oldest unanswered change, ms since it was seen; 0 when none is pending. */
  oldestMs: number;
  /** True exactly once per episode: when silence starts, and when it ends (for one log line each). */
  changed: boolean;
}

/** The default window: Kick delivers within seconds, but has been minutes late (§1.9.5). */
export const WEBHOOK_SILENCE_WINDOW_MS = 2 * 60_000;

/**
 * Changes seen elsewhere that still wait for their webhook.
 *
 * @example
 * ```ts
 * const silence = new WebhookSilence({ windowMs: 120_000 });
 * silence.seen("xqc", "online", "offline", Date.now());  // Pusher saw xqc go live
 * silence.delivered("xqc");                       // and the webhook came: nothing pending
 * silence.check(Date.now()).silent;               // false
 * ```
 */
export class WebhookSilence {
  readonly windowMs: number;
  #pending = new Map<string, { status: string; since: number }>();
  #silent = false;

  constructor(options: WebhookSilenceOptions = {}) {
    this.windowMs = options.windowMs ?? WEBHOOK_SILENCE_WINDOW_MS;
  }

  /**
   * Another source saw `slug` at `status` at `now`, while the recorded status was `recorded`. A change means a
   * webhook should follow; a repeat of a pending change keeps its earlier time (Pusher's two channels, the poll
   * confirming a push). Seen back at the recorded status, a pending change was a flicker: it is withdrawn.
   */
  seen(slug: string, status: string, recorded: string, now: number): void {
    const pending = this.#pending.get(slug);
    if (status === recorded) {
      if (pending !== undefined && pending.status !== status) this.#pending.delete(slug);
      return;
    }
    if (pending !== undefined && pending.status === status) return;
    this.#pending.set(slug, { status, since: now });
  }

  /** A webhook about `slug` arrived: deliveries reach us for it. */
  delivered(slug: string): void {
    this.#pending.delete(slug);
  }

  /** The streamer is no longer subscribed (removed, renamed away): nothing is expected for it. */
  forget(keep: (slug: string) => boolean): void {
    for (const slug of [...this.#pending.keys()]) if (!keep(slug)) this.#pending.delete(slug);
  }

  /** Whether some change has waited longer than the window at `now`. */
  check(now: number): SilenceVerdict {
    const slugs: string[] = [];
    let oldestMs = 0;
    for (const [slug, pending] of this.#pending) {
      const waited = now - pending.since;
      oldestMs = Math.max(oldestMs, waited);
      if (waited >= this.windowMs) slugs.push(slug);
    }
    const silent = slugs.length > 0;
    const changed = silent !== this.#silent;
    this.#silent = silent;
    return { silent, slugs: slugs.sort(), oldestMs, changed };
  }
}
