/**
 * The lease keeper (issue 16): which streamers this monitor watches, and whether it runs the leader duties.
 * Every `KICK_MONITOR_LEASE_TTL / 5` (at least 1 s) one heartbeat statement renews all of this instance's leases (never one
 * statement per streamer) and reads the figures; lease_plan.ts (pure) decides; at most a claim, a few
 * hand-over offers and a withdrawal follow. So the upkeep is a handful of statements per heartbeat whatever the
 * number of streamers (`kick_monitor_lease_queries_total` counts them).
 *
 * A monitor that cannot renew for a whole TTL while other monitors were alive stops watching on its own
 * (the others take its streamers; its writes would be refused anyway) and takes back what is still its own
 * once the database answers again. A lone monitor keeps watching through an outage, so what happens meanwhile
 * is journaled and written when the database returns (its epochs are still current unless a monitor started
 * and took over, in which case the database refuses them).
 */
import { join } from "node:path";
import type { Transition } from "../domain/types.ts";
import type { Db } from "../store/db.ts";
import type { StreamerRecord } from "../store/records.ts";
import type { RefusedTransition } from "../store/transitions.ts";
import {
  beginIncarnation,
  cancelHandovers,
  claimStreamers,
  expireInstance,
  heartbeat,
  instanceLastSeen,
  markHandover,
  type OwnedLease,
  releaseInstance,
} from "../store/leases.ts";
import type { Registry } from "../http/metrics.ts";
import { describeError, UserFacingError } from "../lib/errors.ts";
import { sleep } from "../lib/backoff.ts";
import { log } from "../lib/log.ts";
import { planLeases } from "./lease_plan.ts";

/** What changed in this monitor's share. */
export interface OwnershipChange {
  /** Streamers it now owns and did not before (claimed, or taken back with a new epoch). */
  acquired: number[];
  /** Streamers it no longer owns. */
  lost: number[];
}

/** Options of {@link LeaseKeeper}. */
export interface LeaseKeeperOptions {
  /** The store's database. */
  db: Db;
  /** `KICK_MONITOR_INSTANCE`. */
  instance: string;
  /** `KICK_MONITOR_LEASE_TTL`, in seconds. */
  ttlSeconds: number;
  /** Where the lease metrics go. */
  metrics: Registry;
  /** Told after each round that changed the share (not for `drop`, whose caller knows). */
  onChange: (change: OwnershipChange) => void;
  /** The clock (ms). */
  now?: () => number;
  /**
   * The data directory, whose lock this process holds: the instance that ran on it before is dead for sure,
   * so its leases are taken at once instead of after the TTL (a restart, e.g. after a SIGKILL).
   */
  dataDir?: string;
}

/** The file in the data directory naming the instance that last ran on it. */
export const INSTANCE_FILE = "monitor-instance";

/** Keeps this monitor's leases; see the module comment. */
export class LeaseKeeper {
  #options: LeaseKeeperOptions;
  /** Owned streamer id → the epoch its writes carry. */
  #owned = new Map<number, number>();
  /** Owned streamers currently offered to another monitor. */
  #offered = new Set<number>();
  #leader = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The round in progress (rounds never overlap). */
  #round: Promise<void> = Promise.resolve();
  #lastRenewedAt: number | null = null;
  /** The last heartbeat's leases: the next one reads them again only when they changed. */
  #lastBeat: { digest: string; owned: OwnedLease[] } | undefined;
  /** The heartbeat's leases `#owned` was built from, while nothing else has changed it; else null. */
  #ownedFrom: OwnedLease[] | null = null;
  /** Whether the last heartbeat saw other live monitors (that could take this one's streamers over). */
  #othersAlive = false;
  #instances: { id: string; streamers: number; last_seen_at: string }[] = [];
  #lastError: string | null = null;
  #stopped = false;
  #now: () => number;
  #queries;
  #handovers;
  #staleWrites;

  /** A keeper for `options.instance`; nothing runs until `start` or `round`. */
  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const m = options.metrics;
    this.#queries = m.counter(
      "kick_monitor_lease_queries_total",
      "Statements the lease keeper ran (heartbeats, claims, hand-overs)",
    );
    this.#handovers = m.counter(
      "kick_monitor_lease_handovers_total",
      "Streamer leases handed over between monitors (given: to another; taken: from another)",
    );
    this.#staleWrites = m.counter(
      "kick_monitor_stale_writes_refused_total",
      "Transitions the database refused because their lease was no longer the streamer's",
    );
    m.gauge(
      "kick_monitor_owned_streamers",
      "Streamers whose lease this monitor holds",
      () => this.#owned.size,
    );
    m.gauge(
      "kick_monitor_leader",
      "1 while this monitor runs the leader duties",
      () => this.#leader ? 1 : 0,
    );
  }

  /** This monitor's id. */
  get instance(): string {
    return this.#options.instance;
  }

  /** Whether this monitor runs the duties that must run once. */
  get leader(): boolean {
    return this.#leader;
  }

  /** The live monitors of the database and their shares, as of the last heartbeat (status file shape). */
  get instances(): { id: string; streamers: number; last_seen_at: string }[] {
    return this.#instances;
  }

  /** How many streamers it owns. */
  get size(): number {
    return this.#owned.size;
  }

  /** The epoch writes about `streamerId` carry, or undefined when this monitor does not own it. */
  epochOf(streamerId: number): number | undefined {
    return this.#owned.get(streamerId);
  }

  /**
   * Runs a first round (so the share is known when it returns), then one every TTL / 5 (so a dead monitor's
   * streamers are taken within TTL + TTL / 5). Two monitors must not share a name: a name renewed within the
   * TTL (a killed monitor's, or a running one's) is waited out for two TTLs; still renewed by then, it is
   * another live monitor's, and this one refuses to start. Not waited out: the process that last ran under
   * this name on this data directory (its incarnation is in INSTANCE_FILE), dead since this one holds the
   * directory's lock; a restart under a fixed KICK_MONITOR_INSTANCE goes on at once.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const { db, instance, ttlSeconds } = this.#options;
    const deadline = Date.now() + 2 * ttlSeconds * 1000;
    const predecessor = await this.#predecessor();
    for (let warned = false;;) {
      this.#queries.inc();
      const seen = await instanceLastSeen(db, instance);
      if (seen === null || seen.silentSeconds > ttlSeconds || signal?.aborted) break;
      if (predecessor?.name === instance && predecessor.incarnation === seen.incarnation) {
        log.info("the last monitor of this name ran on this data directory, so it is dead", {
          instance,
        });
        break;
      }
      if (Date.now() > deadline) {
        throw new UserFacingError(
          `Another monitor named ${
            JSON.stringify(instance)
          } is running on this database; give each ` +
            "monitor its own KICK_MONITOR_INSTANCE (the default, hostname-pid, is unique)",
        );
      }
      if (!warned) {
        log.warn(
          "a monitor with this KICK_MONITOR_INSTANCE renewed its leases recently; waiting it out",
          {
            instance,
            silentSeconds: Math.round(seen.silentSeconds),
          },
        );
        warned = true;
      }
      await sleep(ttlSeconds * 1000 / 3, signal).catch(() => {});
    }
    await this.#succeed(predecessor?.name);
    await this.round();
    // A take-over waits for the dead monitor's leases to be a TTL old, then for a survivor's next heartbeat:
    // TTL / 5 keeps that within TTL + 5 s at the default TTL (bench 9; TTL / 3 measured 21 s).
    const every = Math.max(1, this.#options.ttlSeconds / 5) * 1000;
    this.#timer = setInterval(() => void this.round(), every);
  }

  /** Stops the rounds and frees every lease (the others take them at their next heartbeat). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#round;
    // Never heartbeated (e.g. refused at start for its name): the rows under its name are not its own.
    if (this.#lastRenewedAt === null) return;
    try {
      this.#queries.inc();
      await releaseInstance(this.#options.db, this.#options.instance);
    } catch (error) {
      log.warn("could not release this monitor's leases; the others take them after the TTL", {
        error: describeError(error),
      });
    }
    this.#owned.clear();
    this.#ownedFrom = null;
    this.#leader = false;
  }

  /** The streamers of `records` this monitor owns: the only ones it watches. */
  filter(records: readonly StreamerRecord[]): StreamerRecord[] {
    return records.filter((record) => this.#owned.has(record.id));
  }

  /**
   * Stamps each transition with the lease it is decided under, so the database can refuse it once the lease
   * is no longer the streamer's (on PostgreSQL, where other monitors may take it over); drops those of
   * streamers this monitor no longer owns (it has stopped watching them; their new owner reconciles them).
   */
  fence(transitions: Transition[], idOf: (slug: string) => number | undefined): Transition[] {
    // The embedded database has one monitor (the data directory's monitor lock): nobody can take a lease over,
    // so there is nothing to fence, and a fenced batch's lease lock is a statement (~2 ms there, bench 2).
    const stamp = this.#options.db.kind !== "pglite";
    return transitions.flatMap((t) => {
      const id = idOf(t.slug);
      const epoch = id === undefined ? undefined : this.#owned.get(id);
      if (epoch === undefined) return [];
      return [stamp ? { ...t, lease: { instance: this.#options.instance, epoch } } : t];
    });
  }

  /**
   * The database refused writes under leases this monitor no longer holds (another monitor took the
   * streamers): counts them, says so, and forgets those streamers. Returns the streamers dropped now.
   */
  refused(refused: RefusedTransition[]): number[] {
    this.#staleWrites.inc({}, refused.length);
    const dropped = [...new Set(refused.map((r) => r.streamerId))]
      .filter((id) => this.#owned.has(id));
    // Right after a hand-over the old owner still watches until its next heartbeat: refusals are expected.
    const handedOver = dropped.length > 0 && dropped.every((id) => this.#offered.has(id));
    (handedOver ? log.info : log.warn)(
      "the database refused transitions written under a lease this monitor no longer holds",
      {
        refused: refused.length,
        dropped: dropped.length,
        slugs: [...new Set(refused.map((r) => r.transition.slug))].slice(0, 10),
        owners: [...new Set(refused.map((r) => r.current.owner))].slice(0, 5),
      },
    );
    if (dropped.length > 0) this.#ownedFrom = null;
    for (const id of dropped) {
      this.#owned.delete(id);
      this.#offered.delete(id);
    }
    return dropped;
  }

  /** One heartbeat now (also run by the timer); resolves when done. Rounds run one at a time. */
  round(): Promise<void> {
    this.#round = this.#round.then(() => this.#stopped ? undefined : this.#runRound());
    return this.#round;
  }

  /** For /healthz and `service status`: whether the leases are being renewed. */
  health(): { ok: boolean; detail: string; figures: Record<string, unknown> } {
    const figures = {
      instance: this.#options.instance,
      owned_streamers: this.#owned.size,
      leader: this.#leader,
    };
    if (this.#lastError === null) return { ok: true, detail: "ok", figures };
    return { ok: false, detail: `cannot renew leases: ${this.#lastError}`, figures };
  }

  /** The name and incarnation INSTANCE_FILE records of the monitor that ran on this data directory before. */
  async #predecessor(): Promise<{ name: string; incarnation?: string } | null> {
    const { dataDir } = this.#options;
    if (dataDir === undefined) return null;
    const text = await Deno.readTextFile(join(dataDir, INSTANCE_FILE)).catch(() => "");
    // One line (the name) before incarnations were recorded; two since.
    const [name = "", incarnation] = text.split("\n").map((line) => line.trim());
    return name === "" ? null : { name, ...(incarnation ? { incarnation } : {}) };
  }

  /**
   * Frees the leases of the dead instance that ran on this data directory before, and records this one (its
   * name and incarnation) there.
   */
  async #succeed(previous: string | undefined): Promise<void> {
    const { dataDir, db, instance } = this.#options;
    if (dataDir === undefined) return;
    const path = join(dataDir, INSTANCE_FILE);
    if (previous !== undefined && previous !== instance) {
      this.#queries.inc();
      const freed = await expireInstance(db, previous);
      if (freed > 0) {
        log.info("took over from the monitor that ran on this data directory before", {
          previous,
          streamers: freed,
        });
      }
    }
    this.#queries.inc();
    const incarnation = await beginIncarnation(db, instance);
    await Deno.writeTextFile(path, `${instance}\n${incarnation}\n`, { mode: 0o600 });
  }

  async #runRound(): Promise<void> {
    const { db, instance, ttlSeconds } = this.#options;
    try {
      this.#queries.inc();
      const beat = await heartbeat(db, { instance, ttlSeconds, previous: this.#lastBeat });
      this.#lastBeat = { digest: beat.digest, owned: beat.owned };
      this.#lastRenewedAt = this.#now();
      this.#lastError = null;
      this.#leader = beat.leader;
      this.#othersAlive = beat.live.length > 1;
      const plan = planLeases({ self: instance, ...beat });
      // forEach, not map/flatMap/for…of: this runs every TTL / 5, too rarely to be optimised, and at 10,000
      // leases the pairs and iterator results those allocated were an idle daemon's main garbage (bench 4,
      // 8). For the same reason the map stays when the heartbeat returned the very leases it was built from
      // and nothing is claimed (a claim adds to it before #apply compares).
      let owned = this.#owned;
      if (beat.owned !== this.#ownedFrom || plan.claim > 0) {
        owned = new Map<number, number>();
        beat.owned.forEach((lease) => owned.set(lease.streamerId, lease.epoch));
      }
      if (plan.cancel.length > 0) {
        this.#queries.inc();
        await cancelHandovers(db, { instance, to: plan.cancel });
      }
      // Rows on offer: they count as given once their new owner has claimed them.
      const offered = new Set<number>();
      beat.owned.forEach((l) => {
        if (l.handoverTo !== null && !plan.cancel.includes(l.handoverTo)) offered.add(l.streamerId);
      });
      for (const offer of plan.handovers) {
        this.#queries.inc();
        const marked = await markHandover(db, { instance, to: offer.to, count: offer.count });
        for (const id of marked) offered.add(id);
        if (marked.length > 0) {
          log.info("offering streamers to a monitor short of its share", offer);
        }
      }
      if (plan.claim > 0) {
        this.#queries.inc();
        const claimed = await claimStreamers(db, { instance, ttlSeconds, limit: plan.claim });
        const taken = claimed.filter((c) =>
          c.previousOwner !== null && c.previousOwner !== instance
        );
        if (taken.length > 0) this.#handovers.inc({ direction: "taken" }, taken.length);
        for (const lease of claimed) owned.set(lease.streamerId, lease.epoch);
      }
      this.#instances = beat.live.map((id) => ({
        id,
        streamers: id === instance
          ? owned.size
          : beat.counts.reduce((sum, c) => sum + (c.owner === id ? c.owned : 0), 0),
        last_seen_at: beat.lastSeen.get(id)!.toISOString(),
      }));
      this.#apply(owned, offered);
      this.#ownedFrom = beat.owned;
    } catch (error) {
      this.#ownedFrom = null;
      this.#lastError = describeError(error);
      const since = this.#lastRenewedAt ?? -Infinity;
      // Alone, it keeps watching: nobody else can take its streamers, and should a monitor start meanwhile,
      // the database refuses the stale writes anyway (fencing). Not alone, it steps back for the others.
      if (this.#othersAlive && this.#owned.size > 0 && this.#now() - since >= ttlSeconds * 1000) {
        log.warn(
          "could not renew the leases for a whole TTL; stopping watching until the database answers " +
            "(other monitors may take these streamers)",
          { streamers: this.#owned.size, error: this.#lastError },
        );
        this.#leader = false;
        this.#apply(new Map(), new Set());
      } else log.debug("lease heartbeat failed; retrying", { error: this.#lastError });
    }
  }

  #apply(owned: Map<number, number>, offered: Set<number>): void {
    const acquired: number[] = [];
    const lost: number[] = [];
    owned.forEach((epoch, id) => {
      if (this.#owned.get(id) !== epoch) acquired.push(id);
    });
    this.#owned.forEach((_epoch, id) => {
      if (owned.has(id)) return;
      lost.push(id);
      if (this.#offered.has(id)) this.#handovers.inc({ direction: "given" });
    });
    this.#owned = owned;
    this.#offered = offered;
    if (acquired.length + lost.length === 0) return;
    log.info("this monitor's share of streamers changed", {
      owned: owned.size,
      acquired: acquired.length,
      lost: lost.length,
    });
    this.#options.onChange({ acquired, lost });
  }
}
