/**
 * The monitor: wires sources → pipeline → sinks and keeps them running.
 *
 *   PusherSource ─┐
 *                 ├─ observations → Pipeline (status machines) → transitions → Journal (fsync) → DatabaseWriter
 *   PollSource ───┘
 *
 * Reconciliation runs at start, after every Pusher reconnect and every poll interval. The monitored streamer
 * list is re-read from the database periodically, so `streamers add/remove` take effect while it runs.
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Observation, Transition } from "../domain/types.ts";
import { Pipeline } from "./pipeline.ts";
import { PusherSource } from "./sources/pusher_source.ts";
import { PollSource } from "./sources/poll_source.ts";
import { CONFIRM_AFTER_MS, Reconciler } from "./reconciler.ts";
import { ChannelIdRetry } from "./channel_id_retry.ts";
import type { LegacyLookup } from "../kick/legacy.ts";
import type { KickApi } from "../kick/api.ts";
import type { PusherPoolOptions } from "../pusher/pool.ts";
import { Journal, type JournalEntry } from "../sinks/journal.ts";
import { DatabaseWriter } from "../sinks/database_writer.ts";
import { withTimeout } from "../lib/timeout.ts";
import type { Store, StreamerRecord } from "../store/store.ts";
import { Registry } from "../http/metrics.ts";
import type { HealthReport } from "../http/server.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";

/** How long a health probe may wait for the database before /healthz reports it unreachable. */
const HEALTH_PROBE_TIMEOUT_MS = 3_000;
/** How long other bookkeeping reads and writes may wait for the database before they are retried later. */
const STORE_CALL_TIMEOUT_MS = 15_000;

export const STATUS_FILE = "monitor-status.json";

export interface MonitorOptions {
  config: Config;
  store: Store;
  api: KickApi;
  /** The website lookup, retried daily for streamers without a channel id (none: never retried). */
  legacy?: LegacyLookup;
  /** How often that retry runs (ms; default daily, the first 10 minutes after start). */
  channelIdRetryIntervalMs?: number;
  /** Overrides for the Pusher pool (timeouts, backoff), for tests and benchmarks. */
  pusher?: Partial<PusherPoolOptions>;
  /** How often the streamer list is re-read from the database (ms). */
  syncIntervalMs?: number;
  /** How often pending offlines are checked against the grace (ms). */
  tickIntervalMs?: number;
  /** How often the status file is written (ms). */
  statusIntervalMs?: number;
  now?: () => number;
}

/** What `service status` shows, written to the data directory while the monitor runs. */
export interface MonitorStatus {
  pid: number;
  started_at: string;
  updated_at: string;
  streamers: number;
  sockets_connected: number;
  sockets_total: number;
  subscribed_channels: number;
  last_event_at: string | null;
  last_poll_at: string | null;
  last_poll_error: string | null;
  journal_backlog: number;
  database_error: string | null;
  /** Streamers by how they are watched: `pusher` (a channel id to subscribe) or `poll_only`. */
  coverage: { pusher: number; poll_only: number };
}

export class Monitor {
  readonly metrics = new Registry();
  #config: Config;
  #store: Store;
  #pipeline: Pipeline;
  #pusher: PusherSource;
  #reconciler: Reconciler;
  #journal: Journal;
  #writer: DatabaseWriter;
  #now: () => number;
  #options: MonitorOptions;
  #streamers: StreamerRecord[] = [];
  #knownSlugs = new Set<string>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopping = false;
  /** The store's streamer list version when the list was last read. */
  #streamerListVersion: string | null = null;
  #startedAt = new Date();
  #lastEventAt: Date | null = null;
  #abort = new AbortController();
  #buffer: Transition[] = [];
  #appending: Promise<void> | null = null;
  #committedListeners = new Set<(transitions: Transition[]) => void>();
  #counters;

  private constructor(options: MonitorOptions, journal: Journal) {
    this.#options = options;
    this.#config = options.config;
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#journal = journal;
    const pollIntervalMs = options.config.pollIntervalSeconds * 1000;
    this.#pipeline = new Pipeline({
      offlineGraceMs: options.config.offlineGraceSeconds * 1000,
      pollIntervalMs,
    });
    this.#pusher = new PusherSource({
      url: options.config.pusherUrl,
      channelsPerSocket: options.config.channelsPerSocket,
      emit: (observation) => this.#ingest([observation]),
      onReconnected: () => this.requestReconcile("pusher reconnected"),
      pool: options.pusher,
    });
    const m = this.metrics;
    this.#reconciler = new Reconciler({
      poll: new PollSource({
        api: options.api,
        now: this.#now,
        batchSize: options.config.apiBatchSize,
      }),
      store: options.store,
      metrics: m,
      pollIntervalMs,
      streamers: () => this.#streamers,
      ingest: (observations) => this.#ingest(observations),
      statusOf: (slug) => this.#pipeline.stateOf(slug)?.status,
      followUps: (now) => this.#pipeline.followUps(now, CONFIRM_AFTER_MS),
      backlog: () => this.backlog,
      renamed: (slug, newSlug) => {
        this.#pipeline.rename(slug, newSlug);
        // The list version changed: the next sync re-reads the streamers under their new slugs.
        this.#streamerListVersion = null;
        void this.#syncStreamers();
      },
      idsChanged: () => this.#subscribeAll(),
      signal: this.#abort.signal,
      now: this.#now,
    });
    const latency = m.histogram(
      "kick_monitor_event_to_commit_seconds",
      "Time from receiving an event to its transition being committed in the database",
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    );
    this.#counters = {
      events: m.counter("kick_monitor_events_total", "Recorded transitions by type and source"),
      dbErrors: m.counter("kick_monitor_db_write_errors_total", "Failed database writes (retried)"),
      latency,
    };
    const stats = () => this.#pusher.stats();
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
    m.gauge("kick_monitor_journal_backlog", "Transitions not yet committed", () => this.backlog);
    m.gauge("kick_monitor_streamers", "Monitored streamers, by how they are watched", () => {
      const { pusher, poll_only } = this.#coverage();
      return [[{ coverage: "pusher" }, pusher], [{ coverage: "poll_only" }, poll_only]];
    });
    this.#writer = new DatabaseWriter({
      store: options.store,
      cursor: journal,
      onCommitted: (entries, committedAt) => this.#onCommitted(entries, committedAt),
      onError: () => this.#counters.dbErrors.inc(),
    });
  }

  /** Opens the journal in the data directory and queues what a previous run left uncommitted. */
  static async create(options: MonitorOptions): Promise<Monitor> {
    const { journal, recovery } = await Journal.open(options.config.dataDir);
    const monitor = new Monitor(options, journal);
    if (recovery.pending.length > 0) {
      log.info("replaying journaled transitions the database has not committed", {
        count: recovery.pendingTotal,
      });
      monitor.#writer.enqueue(recovery.pending);
      monitor.#pipeline.resumeFrom(recovery.latestPerSlug);
    }
    return monitor;
  }

  /** Transitions journaled but not yet in the database. */
  get backlog(): number {
    return this.#writer.backlog + this.#buffer.length;
  }

  /** Calls `listener` with transitions once the database has committed them (the demo prints them). */
  onCommitted(listener: (transitions: Transition[]) => void): () => void {
    this.#committedListeners.add(listener);
    return () => this.#committedListeners.delete(listener);
  }

  /** Starts the writer and sources; reconciles once before returning. */
  async start(): Promise<void> {
    this.#writer.start();
    await this.#syncStreamers();
    this.#pusher.start();
    const every = (ms: number, fn: () => unknown) => this.#timers.push(setInterval(fn, ms));
    every(
      this.#options.tickIntervalMs ?? 250,
      () => this.#record(this.#pipeline.tick(this.#now())),
    );
    every(this.#options.syncIntervalMs ?? 5_000, () => this.#syncStreamers());
    every(this.#config.pollIntervalSeconds * 1000, () => this.requestReconcile("interval"));
    every(this.#options.statusIntervalMs ?? 2_000, () => this.#writeStatusFile());
    const legacy = this.#options.legacy;
    if (legacy !== undefined) {
      const retry = new ChannelIdRetry({
        legacy,
        store: this.#store,
        streamers: () => this.#streamers,
        idsChanged: () => this.#subscribeAll(),
        signal: this.#abort.signal,
      });
      const interval = this.#options.channelIdRetryIntervalMs ?? 86_400_000;
      this.#timers.push(setTimeout(() => retry.round(), Math.min(interval, 600_000)));
      every(interval, () => retry.round());
    }
    await this.requestReconcile("start");
    await this.#writeStatusFile();
  }

  /** Stops sources, records nothing new, and writes what is journaled before returning. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#abort.abort(new Error("monitor stopping"));
    await this.#pusher.stop();
    await this.#reconciler.stop();
    await this.#appending;
    await this.#writer.stop();
    this.#journal.close();
    await Deno.remove(join(this.#config.dataDir, STATUS_FILE)).catch(() => {});
    if (this.#writer.backlog > 0) {
      log.warn(
        "stopped with transitions the database has not committed; they are kept in the journal",
        {
          count: this.#writer.backlog,
        },
      );
    }
  }

  /** Runs a reconciliation pass now, or once more after the one in progress. */
  requestReconcile(reason: string): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return this.#reconciler.request(reason);
  }

  /** Current figures, as written to the status file. */
  status(): MonitorStatus {
    const stats = this.#pusher.stats();
    const poll = this.#reconciler.health();
    return {
      pid: Deno.pid,
      started_at: this.#startedAt.toISOString(),
      updated_at: new Date(this.#now()).toISOString(),
      streamers: this.#streamers.length,
      sockets_connected: stats.socketsConnected,
      sockets_total: stats.socketsTotal,
      subscribed_channels: stats.channelsSubscribed,
      last_event_at: this.#lastEventAt?.toISOString() ?? null,
      last_poll_at: poll.last_poll_at,
      last_poll_error: poll.last_poll_error,
      journal_backlog: this.backlog,
      database_error: this.#writer.lastError,
      coverage: this.#coverage(),
    };
  }

  #coverage(): { pusher: number; poll_only: number } {
    const pusher = this.#streamers.filter((s) => s.channelId !== null).length;
    return { pusher, poll_only: this.#streamers.length - pusher };
  }

  /**
   * Healthy when the database takes writes, at least one source works, and no poll-only streamer has gone
   * unwatched for several poll intervals (see Reconciler.health).
   */
  async health(): Promise<HealthReport> {
    const status = this.status();
    let database = "ok";
    try {
      await withTimeout(this.#store.health(), HEALTH_PROBE_TIMEOUT_MS, "the database health probe");
    } catch (error) {
      database = describeError(error);
    }
    const wantSockets = this.#streamers.some((s) => s.channelId !== null);
    const pusherOk = !wantSockets || status.sockets_connected > 0;
    const poll = this.#reconciler.health();
    const healthy = database === "ok" && status.database_error === null &&
      (pusherOk || this.#reconciler.working) && poll.ok;
    return {
      healthy,
      database,
      pusher: pusherOk ? "ok" : "no socket connected",
      poll: poll.detail,
      ...status,
    };
  }

  async #syncStreamers(): Promise<void> {
    let records: StreamerRecord[];
    try {
      // Re-reading 10,000 streamers every few seconds was most of an idle daemon's CPU (bench 4); a
      // fingerprint says whether anything changed.
      const version = await withTimeout(
        this.#store.streamerListVersion(),
        STORE_CALL_TIMEOUT_MS,
        "reading the streamer list version",
      );
      if (version === this.#streamerListVersion) return;
      records = await withTimeout(
        this.#store.listStreamers(),
        STORE_CALL_TIMEOUT_MS,
        "reading the streamer list",
      );
      this.#streamerListVersion = version;
    } catch (error) {
      log.debug("could not re-read the streamer list; keeping the current one", { error });
      return;
    }
    // Streamers whose transitions are still on their way to the database keep their in-memory state.
    this.#streamers = records;
    this.#pipeline.sync(records);
    this.#subscribeAll();
    const added = records.filter((r) => !this.#knownSlugs.has(r.slug));
    this.#knownSlugs = new Set(records.map((r) => r.slug));
    if (added.length > 0 && this.#timers.length > 0) void this.requestReconcile("streamers added");
  }

  #subscribeAll(): void {
    this.#pusher.setStreamers(
      this.#streamers.flatMap((
        s,
      ) => (s.channelId === null ? [] : [{ slug: s.slug, channelId: s.channelId }])),
    );
  }

  #ingest(observations: Observation[]): Transition[] {
    const transitions: Transition[] = [];
    for (const observation of observations) {
      if (observation.evidence === "push") {
        this.#lastEventAt = observation.receivedAt;
        this.#reconciler.notePush(observation);
      }
      for (const t of this.#pipeline.ingest(observation)) transitions.push(t);
    }
    this.#record(transitions);
    return transitions;
  }

  /** Hands transitions to the journal; appends are grouped so one fsync covers a burst. */
  #record(transitions: Transition[]): void {
    if (transitions.length === 0) return;
    for (const t of transitions) {
      this.#buffer.push(t);
      this.#counters.events.inc({ type: t.type, source: t.baseline ? "baseline" : t.source });
      log.info(t.baseline ? "status" : "transition", {
        slug: t.slug,
        type: t.type,
        source: t.source,
        occurred_at: t.occurredAt.toISOString(),
      });
    }
    this.#appending ??= this.#drainBuffer();
  }

  async #drainBuffer(): Promise<void> {
    try {
      while (this.#buffer.length > 0) {
        const batch = this.#buffer;
        this.#buffer = [];
        let entries: JournalEntry[];
        try {
          entries = await this.#journal.append(batch);
        } catch (error) {
          // Without the journal nothing is durable: put the batch back and try again shortly.
          log.error("journal write failed; retrying", { error });
          this.#buffer = batch.concat(this.#buffer);
          await new Promise((resolve) => setTimeout(resolve, 500));
          continue;
        }
        this.#writer.enqueue(entries);
      }
    } finally {
      this.#appending = null;
    }
  }

  #onCommitted(entries: JournalEntry[], committedAt: number): void {
    const transitions = entries.map((e) => e.transition);
    for (const t of transitions) {
      if (!t.baseline) {
        this.#counters.latency.observe((committedAt - t.receivedAt.getTime()) / 1000);
      }
    }
    for (const listener of this.#committedListeners) listener(transitions);
  }

  async #writeStatusFile(): Promise<void> {
    if (this.#stopping) return;
    const path = join(this.#config.dataDir, STATUS_FILE);
    const temporary = `${path}.tmp`;
    try {
      await Deno.writeTextFile(temporary, JSON.stringify(this.status()), { mode: 0o600 });
      await Deno.rename(temporary, path);
    } catch (error) {
      log.debug("could not write the status file", { error });
    }
  }
}
