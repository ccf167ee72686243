/**
 * The Pusher source: Kick's StreamerIsLive / StopStreamBroadcast frames on `channel.{id}` and `channel_{id}`
 * become observations. Both names carry the same event; the status machine dedupes them.
 */
import type { Observation } from "../../domain/types.ts";
import { PusherPool, type PusherPoolOptions, type PusherPoolStats } from "../../pusher/pool.ts";
import { kickChannelNames, parseKickLiveEvent } from "../../kick/pusher_events.ts";
import { log } from "../../lib/log.ts";
import type { Source, SourceContext, SourceFactory } from "../contracts.ts";
import { PUSHER_OFF } from "../../config.ts";
import { ChannelIdRetry } from "../channel_id_retry.ts";

export interface MonitoredChannel {
  slug: string;
  channelId: number;
}

export interface PusherSourceOptions {
  url: string;
  channelsPerSocket: number;
  emit: (observation: Observation) => void;
  /** A socket came back after a drop: events may have been missed, so the monitor reconciles. */
  onReconnected: () => void;
  /** Extra pool settings (timeouts, backoff), for tests and benchmarks. */
  pool?: Partial<PusherPoolOptions>;
}

export interface PusherSourceStats extends PusherPoolStats {
  liveEvents: number;
  malformedEvents: number;
  unknownChannelEvents: number;
}

export class PusherSource {
  #pool: PusherPool;
  #slugByChannelId = new Map<number, string>();
  #emit: (observation: Observation) => void;
  #counts = { liveEvents: 0, malformedEvents: 0, unknownChannelEvents: 0 };

  constructor(options: PusherSourceOptions) {
    this.#emit = options.emit;
    this.#pool = new PusherPool({
      url: options.url,
      channelsPerSocket: options.channelsPerSocket,
      ...options.pool,
      onChannelEvent: (event) => this.#onChannelEvent(event),
      onConnected: (socketIndex, info) => {
        if (info.reconnect) {
          log.info("pusher socket reconnected; reconciling", { socket: socketIndex });
          options.onReconnected();
        }
      },
      onDisconnected: (socketIndex, info) =>
        log.warn("pusher socket closed", {
          socket: socketIndex,
          code: info.code,
          reason: info.reason,
        }),
      // Its channels moved to other sockets (pool.ts); events sent while they moved are lost, so reconcile.
      onRefused: () => options.onReconnected(),
      onStopped: (socketIndex, info) =>
        log.error(
          "pusher closed this socket for good (code 4300 or above); the poll still covers its streamers",
          {
            socket: socketIndex,
            code: info.code,
            reason: info.reason,
          },
        ),
      onMalformed: (reason) => log.debug("malformed pusher frame dropped", { reason }),
    });
  }

  /** Subscribes the streamers that have a channel id and unsubscribes the rest, live. */
  setStreamers(channels: MonitoredChannel[]): void {
    this.#slugByChannelId.clear();
    const names: string[] = [];
    for (const { slug, channelId } of channels) {
      this.#slugByChannelId.set(channelId, slug);
      names.push(...kickChannelNames(channelId));
    }
    this.#pool.setChannels(names);
  }

  start(): void {
    this.#pool.start();
  }

  stop(): Promise<void> {
    return this.#pool.stop();
  }

  stats(): PusherSourceStats {
    return { ...this.#pool.stats(), ...this.#counts };
  }

  #onChannelEvent(
    frame: { channel: string; event: string; data: unknown; receivedAt: number },
  ): void {
    const event = parseKickLiveEvent(frame);
    if (event === null) return;
    if (event.kind === "malformed") {
      this.#counts.malformedEvents++;
      log.warn("dropped a stream-status event with an unexpected payload", {
        channel: frame.channel,
        reason: event.reason,
      });
      return;
    }
    const slug = this.#slugByChannelId.get(event.channelId);
    if (slug === undefined) {
      this.#counts.unknownChannelEvents++;
      return;
    }
    this.#counts.liveEvents++;
    const receivedAt = new Date(frame.receivedAt);
    this.#emit({
      slug,
      status: event.kind === "live" ? "online" : "offline",
      observedAt: event.kind === "live" ? (event.createdAt ?? receivedAt) : receivedAt,
      receivedAt,
      source: "pusher",
      evidence: "push",
      livestreamId: event.livestreamId,
      streamStartedAt: event.kind === "live" ? event.createdAt : null,
      title: event.kind === "live" ? event.title : null,
      category: null,
      viewers: null,
      raw: { channel: frame.channel, event: frame.event, data: frame.data },
    });
  }
}

/**
 * The Pusher source as the monitor runs it (contracts.ts): subscribes the streamers with a channel id, asks
 * for a reconciliation after every reconnect, exports its socket figures, and once a day retries the website
 * lookup for streamers without a channel id (channel_id_retry.ts). Off with `KICK_PUSHER_URL=off`.
 */
export const pusherSource: SourceFactory = {
  name: "pusher",
  create(context: SourceContext): Source | null {
    const url = context.config.pusherUrl;
    if (url === PUSHER_OFF) return null;
    const pusher = new PusherSource({
      url,
      channelsPerSocket: context.config.channelsPerSocket,
      emit: (observation) => void context.emit([observation]),
      onReconnected: () => context.reconcile("pusher reconnected"),
      pool: context.pusherPool,
    });
    const stats = () => pusher.stats();
    const m = context.metrics;
    m.gauge(
      "kick_monitor_sockets_connected",
      "Pusher sockets connected",
      () => stats().socketsConnected,
    );
    m.gauge(
      "kick_monitor_sockets_total",
      "Pusher sockets open or reconnecting",
      () => stats().socketsTotal,
    );
    m.gauge(
      "kick_monitor_reconnects_total",
      "Pusher reconnections",
      () => stats().reconnects,
      "counter",
    );
    m.gauge(
      "kick_monitor_subscribed_channels",
      "Pusher channels with a confirmed subscription",
      () => stats().channelsSubscribed,
    );
    m.gauge(
      "kick_monitor_malformed_frames_total",
      "Pusher frames or event payloads dropped as malformed",
      () => stats().malformedFrames + stats().malformedEvents,
      "counter",
    );
    let wanted = 0;
    const retry = context.legacy === undefined ? null : new ChannelIdRetry({
      legacy: context.legacy,
      store: context.store,
      streamers: () => context.streamers(),
      idsChanged: () => context.streamersChanged(),
      signal: context.signal,
    });
    const timers: ReturnType<typeof setTimeout>[] = [];
    return {
      name: "pusher",
      start() {
        pusher.start();
        if (retry !== null) {
          const interval = context.channelIdRetryIntervalMs ?? 86_400_000;
          timers.push(setTimeout(() => retry.round(), Math.min(interval, 600_000)));
          timers.push(setInterval(() => retry.round(), interval));
        }
        return Promise.resolve();
      },
      async stop() {
        for (const timer of timers) clearInterval(timer);
        await pusher.stop();
      },
      streamersChanged(streamers) {
        const channels = streamers.flatMap((s) =>
          s.channelId === null ? [] : [{ slug: s.slug, channelId: s.channelId }]
        );
        wanted = channels.length;
        pusher.setStreamers(channels);
      },
      health() {
        const s = stats();
        const working = wanted === 0 || s.socketsConnected > 0;
        return {
          ok: true,
          working: wanted > 0 && s.socketsConnected > 0,
          detail: working ? "ok" : "no socket connected",
          figures: {
            sockets_connected: s.socketsConnected,
            sockets_total: s.socketsTotal,
            subscribed_channels: s.channelsSubscribed,
          },
        };
      },
    };
  },
};
