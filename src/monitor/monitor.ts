/**
 * The monitor: wiring only. It builds the registered sources and sinks (contracts.ts, sources/mod.ts,
 * sinks/mod.ts) around the pipeline and the durable write path, and keeps them running:
 *
 *   sources ─ emit(Observations) ─▶ Pipeline ─ Transitions ─▶ PreJournal buffer ─▶ Journal (fsync)
 *                                                                                    │ at the same time
 *            DatabaseWriter (one transaction per batch; sinks' inTransaction) ◀──────┘
 *                      └─▶ once both are done: sinks' committed (metrics, listeners)
 *
 * The monitored streamer list is re-read from the database when its fingerprint changes, so
 * `streamers add/remove` take effect while it runs; every source hears of the change. Of that list the monitor
 * watches only the streamers whose lease it holds (ownership.ts; several monitors share one database), and
 * every transition it writes carries that lease, so the database refuses it once another monitor took over.
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Observation, Transition } from "../domain/types.ts";
import { Pipeline } from "./pipeline.ts";
import type { KickApi } from "../kick/api.ts";
import type { LegacyLookup } from "../kick/legacy.ts";
import type { PusherPoolOptions } from "../pusher/pool.ts";
import { Journal } from "../journal/journal.ts";
import { DatabaseWriter } from "../journal/database_writer.ts";
import { withTimeout } from "../lib/timeout.ts";
import type { Store, StreamerRecord } from "../store/store.ts";
import { Registry } from "../http/metrics.ts";
import type { HealthReport } from "../http/server.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import type { Sink, SinkFactory, Source, SourceContext, SourceFactory } from "./contracts.ts";
import { SOURCES } from "./sources/mod.ts";
import { SINKS } from "../sinks/mod.ts";
import { PreJournal } from "../journal/pre_journal.ts";
import { coverageOf } from "../domain/documents.ts";
import { ViewerCounts } from "./viewer_counts.ts";
import { LeaseKeeper, type OwnershipChange } from "./ownership.ts";
import * as statusFile from "./monitor_status.ts";
import { startEmbeddedUpkeep } from "../store/embedded_upkeep.ts";

/** How long a health probe may wait for the database before /healthz reports it unreachable. */
const HEALTH_PROBE_TIMEOUT_MS = 3_000;
/** How long the start waits for the journal's replay to land before claiming streamers (ms). */
const REPLAY_WAIT_MS = 10_000;
/** How long other bookkeeping reads and writes may wait for the database before they are retried later. */
const STORE_CALL_TIMEOUT_MS = 15_000;

/** Batches the database writer keeps in flight on PostgreSQL (bench 2 and 3, README "Performance"). */
const WRITER_CONCURRENCY_POSTGRES = 3;

/** Options of {@link Monitor.create}. */
export interface MonitorOptions {
  config: Config;
  store: Store;
  api: KickApi;
  /** The website lookup, retried daily for streamers without a channel id (none: never retried). */
  legacy?: LegacyLookup;
  /** The sources to run (default: the registry, sources/mod.ts). */
  sources?: readonly SourceFactory[];
  /** The sinks to feed (default: the registry, sinks/mod.ts). */
  sinks?: readonly SinkFactory[];
  /** How often the website lookup is retried (ms; default daily, the first 10 minutes after start). */
  channelIdRetryIntervalMs?: number;
  /** Overrides for the Pusher pool (timeouts, backoff), for tests and benchmarks. */
  pusher?: Partial<PusherPoolOptions>;
  /** How often the streamer list's fingerprint is checked (ms). */
  syncIntervalMs?: number;
  /** How often pending offlines are checked against the grace (ms). */
  tickIntervalMs?: number;
  /** How often the status file is written (ms). */
  statusIntervalMs?: number;
  /** Where sinks that print (the demo's console notifications) write; stdout when unset. */
  consoleOutput?: (line: string) => void;
  /** Most transitions held in front of the journal while it cannot be written (e.g. a full disk). */
  maxUnjournaled?: number;
  now?: () => number;
}

/** The running monitor. */
export class Monitor {
  readonly metrics = new Registry();
  /** The latest viewer counts of live streamers (the status page) and the sessions' peaks (the store). */
  readonly viewers: ViewerCounts;
  #config: Config;
  #store: Store;
  #pipeline: Pipeline;
  #sources: Source[] = [];
  #sinks: Sink[] = [];
  #journal: Journal;
  #writer: DatabaseWriter;
  #preJournal: PreJournal;
  #now: () => number;
  #options: MonitorOptions;
  /** The streamers this monitor owns and watches, of all the database's (both as last read). */
  #streamers: StreamerRecord[] = [];
  #allStreamers: StreamerRecord[] = [];
  #idBySlug = new Map<string, number>();
  #leases: LeaseKeeper;
  #timers: ReturnType<typeof setInterval>[] = [];
  /** PGlite has no autovacuum: its upkeep runs while the monitor does (store/embedded_upkeep.ts). */
  #upkeep: { stop(): Promise<void> } | null = null;
  #stopping = false;
  /** The store's streamer list version when the list was last read. */
  #streamerListVersion: string | null = null;
  #startedAt = new Date();
  #lastEventAt: Date | null = null;
  #abort = new AbortController();
  #committedListeners = new Set<(transitions: Transition[]) => void>();
  #dbErrors;

  private constructor(options: MonitorOptions, journal: Journal) {
    this.#options = options;
    this.#config = options.config;
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#journal = journal;
    this.viewers = ViewerCounts.forStore(options.store);
    this.onCommitted((transitions) => this.viewers.committed(transitions));
    this.#pipeline = new Pipeline({
      offlineGraceMs: options.config.offlineGraceSeconds * 1000,
      pollIntervalMs: options.config.pollIntervalSeconds * 1000,
    });
    const m = this.metrics;
    this.#leases = new LeaseKeeper({
      db: options.store.db,
      instance: options.config.instance,
      ttlSeconds: options.config.leaseTtlSeconds,
      metrics: m,
      onChange: (change) => void this.#ownershipChanged(change),
      now: () => this.#now(),
      dataDir: options.config.dataDir,
    });
    this.#dbErrors = m.counter(
      "kick_monitor_db_write_errors_total",
      "Failed database writes (retried)",
    );
    const sinkContext = {
      config: options.config,
      store: options.store,
      metrics: m,
      signal: this.#abort.signal,
      now: () => this.#now(),
      consoleOutput: options.consoleOutput,
    };
    for (const factory of options.sinks ?? SINKS) {
      const sink = factory.create(sinkContext);
      if (sink !== null) this.#sinks.push(sink);
    }
    const hooks = this.#sinks.flatMap((sink) =>
      sink.inTransaction === undefined ? [] : [sink.inTransaction.bind(sink)]
    );
    this.#writer = new DatabaseWriter({
      store: options.store,
      cursor: journal,
      // PostgreSQL runs transactions on disjoint streamers side by side; PGlite is one connection in this thread.
      concurrency: options.store.kind === "postgres" ? WRITER_CONCURRENCY_POSTGRES : 1,
      inTransaction: hooks,
      onCommitted: (entries, committedAt) =>
        this.#onCommitted(entries.map((e) => e.transition), committedAt),
      onError: () => this.#dbErrors.inc(),
      onRefused: (refused) => {
        if (this.#leases.refused(refused).length > 0) this.#publish(this.#allStreamers);
      },
    });
    this.#preJournal = new PreJournal({
      journal,
      writer: this.#writer,
      max: options.maxUnjournaled,
      // A transition that could not be journaled is forgotten by the pipeline too, so the next poll finds the
      // change again instead of the machine believing it recorded.
      dropped: (transitions) => this.#pipeline.forget(transitions.map((t) => t.slug)),
      metrics: m,
    });
    for (const factory of options.sources ?? SOURCES) {
      const source = factory.create(this.#sourceContext());
      if (source !== null) this.#sources.push(source);
    }
    m.gauge("kick_monitor_journal_backlog", "Transitions not yet committed", () => this.backlog);
    m.gauge("kick_monitor_streamers", "Monitored streamers, by how they are watched", () => {
      const { pusher, poll_only } = this.#coverage();
      return [[{ coverage: "pusher" }, pusher], [{ coverage: "poll_only" }, poll_only]];
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

  /** Transitions journaled (or waiting for the journal) but not yet in the database. */
  get backlog(): number {
    return this.#writer.backlog + this.#preJournal.size;
  }

  /** The names of the running sources, in start order. */
  get sourceNames(): string[] {
    return this.#sources.map((s) => s.name);
  }

  /** Calls `listener` with transitions once the database has committed them (the demo prints them). */
  onCommitted(listener: (transitions: Transition[]) => void): () => void {
    this.#committedListeners.add(listener);
    return () => this.#committedListeners.delete(listener);
  }

  /** Starts the writer, sinks and sources; the sources' first reconciliation is done when it returns. */
  async start(): Promise<void> {
    this.#writer.start();
    for (const sink of this.#sinks) await sink.start?.();
    // What the journal replays was written under the previous run's leases: let it land before this run
    // claims (a claim of the previous run's streamers bumps their epochs, and the replay would be refused).
    await this.#writer.drained(REPLAY_WAIT_MS);
    await this.#leases.start(this.#abort.signal);
    await this.#syncStreamers(false);
    this.#upkeep = startEmbeddedUpkeep(this.#store.db);
    const every = (ms: number, fn: () => unknown) => this.#timers.push(setInterval(fn, ms));
    every(
      this.#options.tickIntervalMs ?? 250,
      () => this.#record(this.#pipeline.tick(this.#now())),
    );
    every(this.#options.syncIntervalMs ?? 5_000, () => this.#syncStreamers());
    every(this.#options.statusIntervalMs ?? 2_000, () => this.#writeStatusFile());
    await Promise.all(this.#sources.map((source) => source.start()));
    await this.#writeStatusFile();
  }

  /** Stops sources, records nothing new, and writes what is journaled before returning. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#abort.abort(new Error("monitor stopping"));
    await Promise.all(this.#sources.map((source) => source.stop()));
    await this.#preJournal.stop();
    await this.#writer.stop();
    await this.#leases.stop();
    await this.#upkeep?.stop();
    for (const sink of this.#sinks) await sink.stop?.();
    this.#journal.close();
    await Deno.remove(join(this.#config.dataDir, statusFile.STATUS_FILE)).catch(() => {});
    if (this.#writer.backlog > 0) {
      log.warn(
        "stopped with transitions the database has not committed; they are kept in the journal",
        { count: this.#writer.backlog },
      );
    }
  }

  /** Asks every reconciling source for a pass; resolves when they are done. */
  async requestReconcile(reason: string): Promise<void> {
    if (this.#stopping) return;
    await Promise.all(this.#sources.map((source) => source.reconcile?.(reason)));
  }

  /** Current figures, as written to the status file. */
  status(): statusFile.MonitorStatus {
    const { sources, number, text } = statusFile.sourceFigures(this.#sources);
    return {
      pid: Deno.pid,
      started_at: this.#startedAt.toISOString(),
      updated_at: new Date(this.#now()).toISOString(),
      streamers: this.#streamers.length,
      sockets_connected: number("sockets_connected"),
      sockets_total: number("sockets_total"),
      subscribed_channels: number("subscribed_channels"),
      last_event_at: this.#lastEventAt?.toISOString() ?? null,
      last_poll_at: text("last_poll_at"),
      last_poll_error: text("last_poll_error"),
      journal_backlog: this.backlog,
      database_error: this.#writer.lastError,
      coverage: this.#coverage(),
      instance: this.#leases.instance,
      leader: this.#leases.leader,
      instances: this.#leases.instances,
      sources,
    };
  }

  /**
   * Healthy when the database takes writes, at least one source works (or nobody is monitored yet), and no
   * source fails in a way that leaves streamers unwatched (e.g. a poll-only streamer with no successful poll
   * for several intervals).
   */
  async health(): Promise<HealthReport> {
    const status = this.status();
    let database = "ok";
    try {
      await withTimeout(this.#store.health(), HEALTH_PROBE_TIMEOUT_MS, "the database health probe");
    } catch (error) {
      database = describeError(error);
    }
    const healths = this.#sources.map((source) => ({ name: source.name, ...source.health() }));
    const working = this.#streamers.length === 0 || healths.some((h) => h.working);
    const failing = [...healths, { name: "leases", ...this.#leases.health() }].filter((h) => !h.ok);
    const sinkProblems = this.#sinks.flatMap((sink) => {
      const health = sink.health?.();
      return health === undefined || health.ok ? [] : [`${sink.name}: ${health.detail}`];
    });
    const healthy = database === "ok" && status.database_error === null && working &&
      failing.length === 0 && sinkProblems.length === 0;
    const details = Object.fromEntries(healths.map((h) => [h.name, h.detail]));
    return {
      healthy,
      database,
      ...details,
      ...(sinkProblems.length > 0 ? { sinks: sinkProblems } : {}),
      ...status,
    };
  }

  #sourceContext(): SourceContext {
    return {
      config: this.#config,
      store: this.#store,
      api: this.#options.api,
      legacy: this.#options.legacy,
      metrics: this.metrics,
      signal: this.#abort.signal,
      now: () => this.#now(),
      emit: (observations) => this.#ingest(observations),
      reconcile: (reason) => void this.requestReconcile(reason),
      streamers: () => this.#streamers,
      allStreamers: () => this.#allStreamers,
      leader: () => this.#leases.leader,
      pipeline: {
        statusOf: (slug) => this.#pipeline.stateOf(slug)?.status,
        followUps: (now, confirmAfterMs) => this.#pipeline.followUps(now, confirmAfterMs),
        rename: (slug, newSlug) => this.#pipeline.rename(slug, newSlug),
      },
      backlog: () => this.backlog,
      streamersChanged: () => {
        this.#streamerListVersion = null;
        void this.#syncStreamers();
      },
      journaled: (timeoutMs) => this.#preJournal.flushed(timeoutMs),
      pusherPool: this.#options.pusher,
      channelIdRetryIntervalMs: this.#options.channelIdRetryIntervalMs,
    };
  }

  #coverage(): { pusher: number; poll_only: number } {
    // A count, not filter().length: the status file asks every 2 s, and 10,000 streamers made that an
    // array of up to 10,000 each time for nothing (bench 4, 8).
    let pusher = 0;
    for (const s of this.#streamers) if (coverageOf(s) === "pusher") pusher++;
    return { pusher, poll_only: this.#streamers.length - pusher };
  }

  async #syncStreamers(claim = true): Promise<void> {
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
      // New streamers are claimed now rather than at the next heartbeat.
      if (claim) await this.#leases.round();
    } catch (error) {
      log.debug("could not re-read the streamer list; keeping the current one", { error });
      return;
    }
    this.#publish(records);
  }

  /** Watches the owned streamers of `records`: the pipeline and every source hear of them. */
  #publish(records: StreamerRecord[]): void {
    this.#allStreamers = records;
    const owned = this.#leases.filter(records);
    this.#idBySlug = new Map(owned.map((record) => [record.slug, record.id]));
    // Streamers whose transitions are still on their way to the database keep their in-memory state.
    this.#streamers = owned;
    this.#pipeline.sync(owned);
    for (const source of this.#sources) source.streamersChanged(owned);
  }

  /**
   * The share changed: streamers taken over are re-read (their stored state is the previous owner's latest)
   * and reconciled at once; lost ones are no longer watched.
   */
  async #ownershipChanged(change: OwnershipChange): Promise<void> {
    // Before the timers run, start() is still reading the list and its sources will reconcile anyway.
    if (this.#stopping || this.#timers.length === 0) return;
    if (change.acquired.length === 0) return this.#publish(this.#allStreamers);
    this.#streamerListVersion = null;
    await this.#syncStreamers(false);
    void this.requestReconcile(`took over ${change.acquired.length} streamer(s)`);
  }

  /** Hands transitions to the journal, each stamped with its lease (see ownership.ts `fence`). */
  #record(transitions: Transition[]): Transition[] {
    const fenced = this.#leases.fence(transitions, (slug) => this.#idBySlug.get(slug));
    if (fenced.length < transitions.length) {
      // Not ours any more (or renamed since the list was read): the next poll finds the change again.
      const kept = new Set(fenced.map((t) => t.dedupeKey));
      this.#pipeline.forget(transitions.filter((t) => !kept.has(t.dedupeKey)).map((t) => t.slug));
    }
    this.#preJournal.add(fenced);
    return fenced;
  }

  #ingest(observations: Observation[]): Transition[] {
    if (this.#stopping) return [];
    const transitions: Transition[] = [];
    for (const observation of observations) {
      if (observation.evidence === "push") this.#lastEventAt = observation.receivedAt;
      for (const source of this.#sources) source.observed?.(observation);
      for (const t of this.#pipeline.ingest(observation)) transitions.push(t);
    }
    this.viewers.observed(observations);
    return this.#record(transitions);
  }

  #onCommitted(transitions: Transition[], committedAt: number): void {
    for (const sink of this.#sinks) {
      try {
        sink.committed?.(transitions, committedAt);
      } catch (error) {
        log.warn("a sink failed on committed transitions", {
          sink: sink.name,
          error: describeError(error),
        });
      }
    }
    for (const listener of this.#committedListeners) listener(transitions);
  }

  async #writeStatusFile(): Promise<void> {
    if (!this.#stopping) await statusFile.writeStatusFile(this.#config.dataDir, this.status());
  }
}
