/**
 * The daily second chance for streamers without a Pusher channel id. The legacy website lookup is the only
 * way to learn one while a streamer is offline (kick-api.md §1.4, #396), and Cloudflare blocks it from most
 * servers (§2.2): `streamers add` tries it once, and this tries again once a day, stopping a round after two
 * failures in a row so a blocked server is not knocked on for every streamer. (A live streamer's id comes
 * from `/public/v1/livestreams` in every poll pass; see sources/poll_pass.ts.)
 */
import type { LegacyLookup } from "../kick/legacy.ts";
import { freshLegacyState, noteLegacyAnswer } from "../kick/resolve.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import type { Store, StreamerRecord } from "../store/store.ts";

/** Options of {@link ChannelIdRetry}. */
export interface ChannelIdRetryOptions {
  legacy: LegacyLookup;
  store: Store;
  /** The monitored streamers as the monitor last read them. */
  streamers: () => StreamerRecord[];
  /** Called after ids were stored, so they get subscribed. */
  idsChanged: () => void;
  signal: AbortSignal;
}

/** One round of legacy lookups for the streamers without a channel id. */
export class ChannelIdRetry {
  #options: ChannelIdRetryOptions;
  #running = false;

  constructor(options: ChannelIdRetryOptions) {
    this.#options = options;
  }

  /** Runs one round (a second call while one runs does nothing); returns how many ids it learned. */
  async round(): Promise<number> {
    if (this.#running) return 0;
    this.#running = true;
    let learned = 0;
    const legacyState = freshLegacyState();
    try {
      for (const streamer of this.#options.streamers().filter((s) => s.channelId === null)) {
        if (this.#options.signal.aborted) break;
        const found = await this.#options.legacy.lookup(streamer.slug);
        if (noteLegacyAnswer(legacyState, found)) {
          log.info("the website API keeps failing; trying again tomorrow", {
            reason: found.kind === "blocked" || found.kind === "failed" ? found.reason : null,
          });
          break;
        }
        if (found.kind === "found") {
          await this.#options.store.setStreamerIds(streamer.slug, {
            channelId: found.channelId,
            chatroomId: found.chatroomId,
          });
          streamer.channelId = found.channelId;
          learned++;
          log.info("learned the pusher channel id from the website API", {
            slug: streamer.slug,
            channelId: found.channelId,
          });
        }
      }
    } catch (error) {
      log.debug("channel id retry failed", { error: describeError(error) });
    } finally {
      this.#running = false;
    }
    if (learned > 0) this.#options.idsChanged();
    return learned;
  }
}
