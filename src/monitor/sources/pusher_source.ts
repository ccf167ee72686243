/**
 * The Pusher source: Kick's StreamerIsLive / StopStreamBroadcast frames on `channel.{id}` and `channel_{id}`
 * become observations. Both names carry the same event; the status machine dedupes them.
 */
import type { Observation } from "../../domain/types.ts";
import { PusherPool, type PusherPoolOptions, type PusherPoolStats } from "../../pusher/pool.ts";
import { kickChannelNames, parseKickLiveEvent } from "../../kick/pusher_events.ts";
import { log } from "../../lib/log.ts";

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
