/**
 * The two shapes the monitor is built from (STYLE.md: sources → pipeline → sinks). Adding a source or a sink is
 * one new file implementing one of these, plus one line in its registry (sources/mod.ts, sinks/mod.ts); the
 * pipeline never learns its name.
 *
 * ```
 *   Source ──emit(Observations)──▶ Pipeline (status machines) ──Transitions──▶ Journal (fsync)
 *                                                                               │
 *                              DatabaseWriter: one transaction per batch ◀──────┘
 *                                ├─ every Sink.inTransaction (durable: its rows commit with the events)
 *                                └─ after the commit, every Sink.committed (best effort: metrics, streams)
 * ```
 */
import type { Config } from "../config.ts";
import type { Observation, Transition } from "../domain/types.ts";
import type { Registry } from "../http/metrics.ts";
import type { KickApi } from "../kick/api.ts";
import type { LegacyLookup } from "../kick/legacy.ts";
import type { PusherPoolOptions } from "../pusher/pool.ts";
import type { Db } from "../store/db.ts";
import type { InsertedEvent, Store, StreamerRecord } from "../store/store.ts";

// The types the contracts mention, so a source or a sink can be written against this one module.
export type { Config } from "../config.ts";
export type { Observation, Transition } from "../domain/types.ts";
export type { Registry } from "../http/metrics.ts";
export type { KickApi } from "../kick/api.ts";
export type { LegacyLookup } from "../kick/legacy.ts";
export type { PusherPoolOptions } from "../pusher/pool.ts";
export type { Db } from "../store/db.ts";
export type { Store, StreamerRecord } from "../store/store.ts";
// …and the types those mention in turn, so every type a contract reaches is documented (deno doc --lint).
export type {
  EventSource,
  Evidence,
  LiveStatus,
  StreamerStatus,
  TransitionLease,
  TransitionType,
} from "../domain/types.ts";
export type { Counter, Gauge, GaugeReading, Histogram, Labels, Metric } from "../http/metrics.ts";
export type { BatchOptions, ChannelsById, ChannelsBySlug } from "../kick/api.ts";
export type { KickChannel, KickLivestream, KickUser } from "../kick/channels.ts";
export type { LegacyLive, LegacyLookupResult } from "../kick/legacy.ts";
export type { KickApiStats } from "../kick/requests.ts";
export type { EventKind, EventSubscription } from "../kick/subscriptions.ts";
export type { RetrySchedule, RetrySchedules } from "../pusher/protocol.ts";
export type {
  PusherChannelEvent,
  PusherCloseInfo,
  PusherConnectionOptions,
  PusherRefusalInfo,
  PusherSubscriptionError,
} from "../pusher/types.ts";

/** What a source or sink says about itself on /healthz and in the status file. */
export interface ComponentHealth {
  /**
   * False when it fails in a way that leaves streamers unwatched or changes unrecorded: /healthz turns 503
   * (e.g. the poll blind while a streamer has no other source).
   */
  ok: boolean;
  /** One line for a person: "ok", or what is wrong. */
  detail: string;
  /** Figures for /healthz and `service status --json`, named as interface.md names them. */
  figures?: Record<string, unknown>;
}

/** A source's health: also whether it currently delivers observations at all. */
export interface SourceHealth extends ComponentHealth {
  /** Delivering now (a socket connected, a recent successful pass); the monitor needs at least one. */
  working: boolean;
}

/** What the monitor gives every source. */
export interface SourceContext {
  /** The validated configuration. */
  config: Config;
  /** The open store (streamers, ids); sources never record events themselves, they emit them. */
  store: Store;
  /** Kick's official API, with the app token. */
  api: KickApi;
  /** The best-effort legacy website lookup (channel ids), when the monitor made one. */
  legacy?: LegacyLookup;
  /** Where a source registers its metrics. */
  metrics: Registry;
  /** Aborted when the monitor stops: pass it to every request. */
  signal: AbortSignal;
  /** The monitor's clock in milliseconds (injectable for tests). */
  now(): number;
  /**
   * Hands observations to the pipeline; returns the transitions they caused. Each says what kind of evidence
   * it is (`push` or `poll`); that, not the source's name, is what the status machine weighs.
   */
  emit(observations: Observation[]): Transition[];
  /** Asks every reconciling source for a pass now (a push source may have missed events). */
  reconcile(reason: string): void;
  /** The streamers this monitor watches (those whose lease it holds), as last read from the store. */
  streamers(): StreamerRecord[];
  /** Every streamer of the database, the other monitors' included (for the leader duties). */
  allStreamers(): StreamerRecord[];
  /**
   * Whether this monitor runs the duties that must run once across the monitors of a database (e.g. the
   * webhook subscription sync); it can change at any time (issue 16).
   */
  leader(): boolean;
  /** The pipeline's view of streamers, for sources that reason about what is already known. */
  pipeline: {
    /** The status the pipeline holds for a streamer, if it knows it. */
    statusOf(slug: string): string | undefined;
    /** Streamers to ask about again (answers that contradicted a push), and when. */
    followUps(now: number, confirmAfterMs: number): { slug: string; dueAt: number }[];
    /** A streamer's slug changed: move its state. */
    rename(slug: string, newSlug: string): void;
  };
  /** Transitions not yet committed. */
  backlog(): number;
  /** A source stored new ids or slugs: re-read the streamer list now. */
  streamersChanged(): void;
  /**
   * Resolves once every transition emitted so far is in the fsync'd journal; rejects after `timeoutMs` (a
   * push source answering its sender, e.g. a webhook's 200, waits for this).
   */
  journaled(timeoutMs: number): Promise<void>;
  /** Overrides for the Pusher pool (timeouts, backoff), for tests and benchmarks. */
  pusherPool?: Partial<PusherPoolOptions>;
  /** How often streamers without a channel id are looked up again (ms; default daily). */
  channelIdRetryIntervalMs?: number;
}

/** A way of learning whether streamers are live (Pusher, the poll, webhooks). */
export interface Source {
  /** Its name in logs, /healthz and /metrics. */
  readonly name: string;
  /** Starts listening or polling; resolves once it runs (a first reconciliation, for a poll). */
  start(): Promise<void>;
  /** Stops; resolves when nothing of it runs any more. */
  stop(): Promise<void>;
  /** The monitored streamers changed (added, removed, renamed, given ids). */
  streamersChanged(streamers: readonly StreamerRecord[]): void;
  /** How it is doing, for /healthz and the status file. */
  health(): SourceHealth;
  /** A reconciliation pass now; only sources that can reconcile implement it. */
  reconcile?(reason: string): Promise<void>;
  /** Sees every observation of every source (the poll measures the API's lag behind pushes). */
  observed?(observation: Observation): void;
}

/** Builds a source; null when the configuration turns it off (e.g. `KICK_PUSHER_URL=off`). */
export interface SourceFactory {
  /** The source's name (the same as the Source's). */
  readonly name: string;
  /** Builds the source for this monitor, or null when the configuration turns it off. */
  create(context: SourceContext): Source | null;
}

/** One newly recorded status event, as a durable sink sees it inside the commit's transaction. */
export type CommittedEvent = InsertedEvent;

/** What the monitor gives every sink. */
export interface SinkContext {
  /** The validated configuration. */
  config: Config;
  /** The open store. */
  store: Store;
  /** Where a sink registers its metrics. */
  metrics: Registry;
  /** Aborted when the monitor stops. */
  signal: AbortSignal;
  /** The monitor's clock in milliseconds (injectable for tests). */
  now(): number;
  /** Where a sink that prints (the demo's console notifications) writes; stdout when unset. */
  consoleOutput?: (line: string) => void;
}

/** A consumer of committed transitions (metrics, notifications, a live stream of the status page). */
export interface Sink {
  /** Its name in logs, /healthz and /metrics. */
  readonly name: string;
  /** Starts its background work, if any (a delivery worker). */
  start?(): Promise<void>;
  /** Stops; resolves when nothing of it runs any more. */
  stop?(): Promise<void>;
  /**
   * The durable part: runs inside the transaction that records the events, with the events it newly
   * inserted (a replayed transition is not passed again). What it writes commits with them or not at all,
   * so after a crash, a restart or a database outage it has neither lost nor doubled anything. A throw rolls
   * the batch back; the writer retries it.
   */
  inTransaction?(tx: Db, events: CommittedEvent[]): Promise<void>;
  /** After the commit, best effort: transitions in commit order, and when they were committed. */
  committed?(transitions: Transition[], committedAt: number): void;
  /** How it is doing, for /healthz and the status file; a sink without one is not shown. */
  health?(): ComponentHealth;
}

/** Builds a sink; null when the configuration turns it off. */
export interface SinkFactory {
  /** The sink's name (the same as the Sink's). */
  readonly name: string;
  /** Builds the sink for this monitor, or null when the configuration turns it off. */
  create(context: SinkContext): Sink | null;
}
