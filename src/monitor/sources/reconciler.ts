/**
 * The reconciler: runs poll passes (at start, after every Pusher reconnect, every poll interval), hands their
 * observations to the pipeline, and acts on what a pass learned about the streamers themselves:
 *
 * - a channel Kick returns under a new slug (found by broadcaster user id) is renamed, history kept;
 * - a channel Kick stops returning is, after MISSING_PASSES consecutive passes, shown `unknown` with a reason
 *   (and, when it was live, its absence counts as poll evidence of an offline), never frozen;
 * - broadcaster user ids learned by slug, and Pusher channel ids learned (or corrected) from `/livestreams`,
 *   are stored, and the channel ids subscribed.
 *
 * It also keeps the poll's health (a poll-only streamer is blind when no pass succeeds) and the API-vs-push
 * lag histogram that sizes the status machine's rules on the real service (kick-api.md §1.4, #321).
 *
 * One pass itself is src/monitor/sources/poll_pass.ts; the source the monitor runs (its timer, follow-ups and
 * health) is the pollSource factory in src/monitor/sources/poll.ts.
 */
import type { Observation, Transition } from "../../domain/types.ts";
import type { Registry } from "../../http/metrics.ts";
import { describeError } from "../../lib/errors.ts";
import { log } from "../../lib/log.ts";
import { withTimeout } from "../../lib/timeout.ts";
import type { Store, StreamerRecord } from "../../store/store.ts";
import type { PollSource, ReconcileResult } from "./poll_pass.ts";

/** Consecutive passes a channel must be missing from Kick's answers before it is shown `unknown`. */
export const MISSING_PASSES = 2;
/** Passes without success after which a poll-only streamer makes the monitor unhealthy. */
export const BLIND_PASSES = 3;
/** How long bookkeeping reads and writes may wait for the database before they are retried later. */
const STORE_CALL_TIMEOUT_MS = 15_000;

/** Options of {@link Reconciler}. */
export interface ReconcilerOptions {
  poll: PollSource;
  store: Store;
  metrics: Registry;
  pollIntervalMs: number;
  /** The monitored streamers as the monitor last read them. */
  streamers: () => StreamerRecord[];
  /** Feeds observations to the pipeline; returns the transitions they caused. */
  ingest: (observations: Observation[]) => Transition[];
  /** Streamers to ask about again before the next regular pass (Pipeline.followUps). */
  followUps: (now: number) => { slug: string; dueAt: number }[];
  /** The status the pipeline holds for a streamer (absence matters only for a live one). */
  statusOf: (slug: string) => string | undefined;
  /** Transitions not yet committed (a rename waits until there are none). */
  backlog: () => number;
  /** A streamer's slug changed in the store: move its in-memory state. */
  renamed: (slug: string, newSlug: string) => void;
  /** Stored ids changed (channel ids to subscribe). */
  idsChanged: () => void;
  signal: AbortSignal;
  now?: () => number;
}

/** The poll's side of `/healthz` and the status file. */
export interface PollHealth {
  ok: boolean;
  detail: string;
  last_poll_at: string | null;
  last_poll_error: string | null;
}

/** Runs and interprets reconciliation passes. */
export class Reconciler {
  #options: ReconcilerOptions;
  #now: () => number;
  #startedAt: number;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #lastPollAt: Date | null = null;
  #lastSuccessAt: number | null = null;
  #lastError: string | null = null;
  #missing = new Map<string, number>();
  #pushOnlineAt = new Map<string, number>();
  /** Bookkeeping writes, in order, behind the passes. */
  #background: Promise<void> = Promise.resolve();
  #checkTimesQueued = false;
  /** Streamers the next pass asks about, when it is a follow-up; null for a full pass. */
  #only: Set<string> | null = null;
  #followUpTimer: ReturnType<typeof setTimeout> | null = null;
  #followUpAt = Infinity;
  #counters;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
    const m = options.metrics;
    this.#counters = {
      duration: m.histogram(
        "kick_monitor_poll_duration_seconds",
        "Duration of a reconciliation pass",
        [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      ),
      discrepancies: m.counter(
        "kick_monitor_poll_discrepancies_total",
        "Transitions found by reconciliation that no realtime event had reported",
      ),
      errors: m.counter(
        "kick_monitor_poll_errors_total",
        "Reconciliation passes (or batches of one) that failed",
      ),
      apiLag: m.histogram(
        "kick_monitor_api_lag_seconds",
        "Time from a push online to the first poll of the official API that agrees",
        [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300],
      ),
      channelIdCorrections: m.counter(
        "kick_monitor_channel_id_corrections_total",
        "Stored Pusher channel ids that Kick's /livestreams contradicted and that were corrected",
      ),
    };
    const apiStats = options.poll.apiStats();
    m.gauge(
      "kick_monitor_api_items_rejected_total",
      "Items of Kick's API answers dropped because a field the monitor relies on was unreadable",
      () => apiStats.itemsRejected,
      "counter",
    );
    m.gauge(
      "kick_monitor_api_items_without_stream_total",
      "Channels Kick answered without a readable stream.is_live (no observation)",
      () => apiStats.noStream,
      "counter",
    );
  }

  /** Runs a pass now, or once more after the one in progress. */
  request(reason: string): Promise<void> {
    this.#only = null;
    return this.#run(reason);
  }

  #run(reason: string): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running !== null) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          const only = this.#only;
          this.#only = null;
          await this.#pass(reason, only);
        } while (this.#again && !this.#stopped);
      } finally {
        this.#running = null;
      }
      this.#scheduleFollowUp();
    })();
    return this.#running;
  }

  /**
   * Asks again, before the next regular pass, about streamers whose last answer contradicted their status
   * or came too soon after a push (status_machine.ts), once they are due.
   */
  #scheduleFollowUp(): void {
    if (this.#stopped) return;
    const now = this.#now();
    const due = this.#options.followUps(now);
    if (due.length === 0) return;
    const at = Math.min(...due.map((d) => d.dueAt));
    if (this.#followUpTimer !== null && this.#followUpAt <= at) return;
    if (this.#followUpTimer !== null) clearTimeout(this.#followUpTimer);
    this.#followUpAt = at;
    this.#followUpTimer = setTimeout(() => {
      this.#followUpTimer = null;
      this.#followUpAt = Infinity;
      const ready = this.#options.followUps(this.#now()).filter((d) => d.dueAt <= this.#now() + 50);
      if (ready.length === 0) return this.#scheduleFollowUp();
      if (this.#running === null) this.#only = new Set(ready.map((d) => d.slug));
      void this.#run("follow-up");
    }, Math.max(0, at - now) + 20);
  }

  /** Stops scheduling passes and waits for the one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#followUpTimer !== null) clearTimeout(this.#followUpTimer);
    await this.#running?.catch(() => {});
  }

  /** A push observation went by: the lag histogram measures how long the API takes to agree with it. */
  notePush(observation: Observation): void {
    if (observation.status === "online") {
      if (!this.#pushOnlineAt.has(observation.slug)) {
        this.#pushOnlineAt.set(observation.slug, observation.receivedAt.getTime());
      }
    } else this.#pushOnlineAt.delete(observation.slug);
  }

  /**
   * The poll's health: not ok when a poll-only streamer (no Pusher channel id) exists and no pass has
   * succeeded for BLIND_PASSES intervals — those streamers are then watched by nothing.
   */
  health(): PollHealth {
    const now = this.#now();
    const blindAfter = BLIND_PASSES * this.#options.pollIntervalMs;
    const pollOnly = this.#options.streamers().filter((s) => s.channelId === null).length;
    const since = this.#lastSuccessAt ?? this.#startedAt;
    const blind = pollOnly > 0 && now - since > blindAfter;
    const detail = blind
      ? `${pollOnly} poll-only streamer(s) unwatched: no successful poll for ${
        Math.round((now - since) / 1000)
      } s${this.#lastError === null ? "" : ` (${this.#lastError})`}`
      : this.#lastError ?? (this.#lastSuccessAt === null ? "no successful poll yet" : "ok");
    return {
      ok: !blind,
      detail,
      last_poll_at: this.#lastPollAt?.toISOString() ?? null,
      last_poll_error: this.#lastError,
    };
  }

  /** Whether a pass has succeeded recently enough to count as a working source. */
  get working(): boolean {
    return this.#lastSuccessAt !== null && this.#lastError === null;
  }

  async #pass(reason: string, only: Set<string> | null): Promise<void> {
    const all = this.#options.streamers();
    const records = only === null ? all : all.filter((s) => only.has(s.slug));
    if (records.length === 0) return;
    log.debug("reconciling", { reason, streamers: records.length });
    let result: ReconcileResult;
    try {
      result = await this.#options.poll.reconcile(
        records.map((s) => ({
          slug: s.slug,
          broadcasterUserId: s.broadcasterUserId,
          channelId: s.channelId,
        })),
        this.#options.signal,
      );
    } catch (error) {
      if (this.#stopped || this.#options.signal.aborted) return;
      this.#counters.errors.inc();
      this.#lastError = describeError(error);
      log.warn("reconciliation failed; retrying at the next interval", { error: this.#lastError });
      return;
    }
    this.#lastPollAt = result.checkedAt;
    this.#lastSuccessAt = this.#now();
    this.#counters.duration.observe(result.durationMs / 1000);
    if (result.failed.length > 0) {
      this.#counters.errors.inc({}, 1);
      this.#lastError = `${result.failed.length} of ${records.length} streamers not checked: ${
        result.errors[0]
      }`;
      log.warn("part of the reconciliation failed; those streamers are asked again next pass", {
        streamers: result.failed.length,
        error: result.errors[0],
      });
    } else this.#lastError = null;

    const renames = await this.#followRenames(result.renamed);
    const observations = result.observations.map((o) => {
      const newSlug = renames.get(o.slug);
      return newSlug === undefined ? o : { ...o, slug: newSlug };
    });
    observations.push(...this.#absences(result, records));
    this.#measureLag(observations);
    const transitions = this.#options.ingest(observations);
    // A title change is no missed status change (Pusher never carries one, title_machine.ts).
    const discrepancies = transitions.filter((t) => !t.baseline && t.type !== "title").length;
    if (discrepancies > 0) this.#counters.discrepancies.inc({}, discrepancies);

    // Bookkeeping runs behind the passes: a slow or unreachable database must not blind the poll (found by
    // the soak: passes waited out 15 s store timeouts during a database outage).
    this.#storeLearnedIds(result);
    const answered = [...result.observations.map((o) => o.slug), ...result.unreadable]
      .map((slug) => renames.get(slug) ?? slug);
    if (!this.#checkTimesQueued) {
      this.#checkTimesQueued = true;
      this.#inBackground(async () => {
        this.#checkTimesQueued = false;
        await this.#bookkeeping(
          () => this.#options.store.markChecked(answered, result.checkedAt),
          "recording check times",
        );
      });
    }
  }

  /** Runs `task` after the bookkeeping queued before it, off the pass's path. */
  #inBackground(task: () => Promise<void>): void {
    this.#background = this.#background.then(task).catch((error) =>
      log.debug("bookkeeping failed", { error: describeError(error) })
    );
  }

  /** Missing channels: counted per streamer; after MISSING_PASSES, shown unknown with a reason. */
  #absences(result: ReconcileResult, records: StreamerRecord[]): Observation[] {
    const missing = new Set(result.missing);
    for (const slug of [...this.#missing.keys()]) {
      if (!missing.has(slug)) this.#missing.delete(slug);
    }
    const absent: Observation[] = [];
    const gone: StreamerRecord[] = [];
    for (const record of records) {
      if (!missing.has(record.slug)) continue;
      const count = (this.#missing.get(record.slug) ?? 0) + 1;
      this.#missing.set(record.slug, count);
      // Absent is poll evidence that a live channel ended (a ban ends the stream); the status machine needs
      // it twice in a row, like any poll offline.
      if (this.#options.statusOf(record.slug) === "online") {
        absent.push({
          slug: record.slug,
          status: "offline",
          observedAt: result.checkedAt,
          receivedAt: result.checkedAt,
          source: "poll",
          evidence: "poll",
          livestreamId: null,
          title: null,
          category: null,
          viewers: null,
          raw: { missing: true },
        });
      }
      if (count === MISSING_PASSES) gone.push(record);
    }
    for (const record of gone) {
      const reason = record.broadcasterUserId === null
        ? `Kick does not know the slug "${record.slug}" (renamed or banned?)`
        : `Kick no longer returns this channel (broadcaster user id ${record.broadcasterUserId}: banned or deleted?)`;
      log.warn("Kick no longer returns this streamer's channel; showing it as unknown", {
        slug: record.slug,
        reason,
      });
      void this.#bookkeeping(
        () => this.#options.store.markUnavailable([record.slug], reason, result.checkedAt),
        "marking a channel unavailable",
      );
    }
    return absent;
  }

  /** Renames the streamers Kick returned under a new slug; returns old slug → new slug for those done. */
  async #followRenames(renamed: ReconcileResult["renamed"]): Promise<Map<string, string>> {
    const done = new Map<string, string>();
    // Transitions on their way to the database name the streamer by its slug: rename only between them.
    if (renamed.length === 0 || this.#options.backlog() > 0) return done;
    for (const { slug, newSlug } of renamed) {
      const ok = await this.#bookkeeping(
        () => this.#options.store.renameStreamer(slug, newSlug),
        "renaming a streamer",
      );
      if (ok === true) {
        log.info("Kick renamed this channel; following it under its new slug", {
          slug,
          new_slug: newSlug,
        });
        this.#options.renamed(slug, newSlug);
        done.set(slug, newSlug);
      } else if (ok === false) {
        log.warn("Kick renamed this channel to a slug that is already monitored; not following", {
          slug,
          new_slug: newSlug,
        });
      }
    }
    return done;
  }

  #storeLearnedIds(result: ReconcileResult): void {
    for (const { slug, broadcasterUserId } of result.learnedUserIds) {
      this.#inBackground(async () => {
        await this.#bookkeeping(
          () => this.#options.store.setStreamerIds(slug, { broadcasterUserId }),
          "recording a broadcaster user id",
        );
      });
    }
    for (const { slug, channelId, previous } of result.discoveredChannelIds) {
      if (previous === null) {
        log.info("learned the pusher channel id from a live stream", { slug, channelId });
      } else {
        this.#counters.channelIdCorrections.inc();
        log.warn(
          "the stored channel id is not this streamer's Pusher channel (a user id?); corrected from Kick's /livestreams",
          { slug, stored: previous, channelId },
        );
      }
      const record = this.#options.streamers().find((s) => s.slug === slug);
      if (record) record.channelId = channelId;
      // Watching the channel matters more than remembering its id; the next pass learns it again.
      this.#inBackground(async () => {
        await this.#bookkeeping(
          () => this.#options.store.setStreamerIds(slug, { channelId }),
          "recording a channel id",
        );
      });
    }
    // Subscribed once stored (a re-read of the list before the write would forget the new ids).
    if (result.discoveredChannelIds.length > 0) {
      this.#inBackground(() => Promise.resolve(this.#options.idsChanged()));
    }
  }

  #measureLag(observations: Observation[]): void {
    for (const o of observations) {
      const pushedAt = this.#pushOnlineAt.get(o.slug);
      if (pushedAt === undefined || o.status !== "online") continue;
      this.#pushOnlineAt.delete(o.slug);
      this.#counters.apiLag.observe(Math.max(0, o.receivedAt.getTime() - pushedAt) / 1000);
    }
  }

  async #bookkeeping<T>(call: () => Promise<T>, what: string): Promise<T | undefined> {
    try {
      return await withTimeout(call(), STORE_CALL_TIMEOUT_MS, what);
    } catch (error) {
      log.debug(`could not finish ${what}; it is retried later`, { error: describeError(error) });
      return undefined;
    }
  }
}
