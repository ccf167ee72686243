/**
 * The soak's view of the leases (`--instances N`), straight from PostgreSQL (not through any monitor's proxy):
 * every ~250 ms one snapshot of `streamer_leases`, of `lease_log` and of the newest `status_events`, fed to the
 * pure verdict in leases.ts. Also says when ownership has settled (every streamer held by a working monitor, no
 * handover pending), which the fault schedule waits for.
 */
import type postgres from "postgres";
import {
  type ClaimRecord,
  findStaleWrites,
  type InjectedFault,
  type OwnerlessStretch,
  OwnerlessTracker,
  type StaleWrite,
  type WrittenEvent,
} from "./leases.ts";

/** What the soak says when the build under test has no leases. */
export const NEEDS_LEASES =
  "--instances needs leases (sql/005_leases.sql: streamer_leases, lease_log, status_events.instance/epoch), " +
  "which this build does not have";

/** Throws {@link NEEDS_LEASES} unless the migrated database has the lease tables and columns. */
export async function assertLeaseSchema(sql: postgres.Sql): Promise<void> {
  const [row] = await sql<{ tables: number; columns: number }[]>`
    SELECT
      (SELECT count(*)::int FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_name IN ('streamer_leases', 'lease_log', 'instances'))
        AS tables,
      (SELECT count(*)::int FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'status_events'
          AND column_name IN ('instance', 'epoch')) AS columns`;
  if (row.tables !== 3 || row.columns !== 2) throw new Error(NEEDS_LEASES);
}

export interface LeaseWatchOptions {
  /** Monitors that cannot record right now (killed, paused, cut off): their leases count as ownerless. */
  disabled: () => ReadonlySet<string>;
  /** True while the whole database is cut off: nobody can own anything, so the stretch is not counted. */
  clipped: () => boolean;
  everyMs?: number;
}

/** The lease figures of a run. */
export interface LeaseFigures {
  /** The longest time one streamer had no working owner (after every streamer was first owned). */
  longestOwnerless: OwnerlessStretch | null;
  /** Successful claims (`lease_log` rows). */
  claims: number;
  staleAccepted: StaleWrite[];
  /** Events that carry an instance and an epoch, out of all recorded. */
  attributed: number;
  recorded: number;
}

/** Samples the leases until stopped. */
export class LeaseWatch {
  readonly #sql: postgres.Sql;
  readonly #options: LeaseWatchOptions;
  readonly #tracker = new OwnerlessTracker();
  readonly #claims = new Map<string, ClaimRecord>();
  /** When each claim was first seen (ms), by `streamer:epoch`. */
  readonly #claimSeenAt = new Map<string, number>();
  readonly #events = new Map<number, WrittenEvent>();
  #sample = 0;
  #maxEventId = 0;
  #tracking = false;
  #settled = false;
  #lastSampleAt = 0;
  #ownerless = -1;
  #stop = new AbortController();
  #loop: Promise<void> | null = null;

  constructor(sql: postgres.Sql, options: LeaseWatchOptions) {
    this.#sql = sql;
    this.#options = options;
  }

  /** Starts sampling; ownerless stretches count only after {@link startTracking}. */
  start(): void {
    this.#loop = (async () => {
      while (!this.#stop.signal.aborted) {
        try {
          await this.#take();
        } catch {
          // A sample lost to a busy server; the next one follows.
        }
        await new Promise((resolve) => setTimeout(resolve, this.#options.everyMs ?? 250));
      }
    })();
  }

  /** From now on, ownerless streamers count (call once every streamer has been owned). */
  startTracking(): void {
    this.#tracking = true;
  }

  /**
   * Every change of owner after a streamer's first claim, with the time it was first seen: the new owner learns
   * the streamer's state from its own look, so the soak gives those moments a blind window.
   */
  ownerChanges(): { streamerId: number; epoch: number; seenAt: number }[] {
    const first = new Map<number, number>();
    for (const claim of this.#claims.values()) {
      first.set(claim.streamerId, Math.min(first.get(claim.streamerId) ?? Infinity, claim.epoch));
    }
    return [...this.#claims.entries()]
      .filter(([, claim]) => claim.epoch > first.get(claim.streamerId)!)
      .map(([key, claim]) => ({
        streamerId: claim.streamerId,
        epoch: claim.epoch,
        seenAt: this.#claimSeenAt.get(key)!,
      }));
  }

  /** Samples taken so far. */
  get samples(): number {
    return this.#sample;
  }

  /** Streamers without a working owner in the last sample (-1 before the first). */
  get ownerless(): number {
    return this.#ownerless;
  }

  /** Whether a sample taken at or after `since` found every streamer held by a working monitor, none handed over. */
  settledSince(since: number): boolean {
    return this.#settled && this.#lastSampleAt >= since;
  }

  /** Stops sampling; ownership is judged up to the last sample (the final read of {@link figures} is not). */
  async stop(): Promise<void> {
    this.#tracking = false;
    this.#stop.abort();
    await this.#loop;
  }

  /** The verdict, after a final read of every event (rows no sample saw get no sample index). */
  async figures(faults: readonly InjectedFault[]): Promise<LeaseFigures> {
    await this.#take();
    const all = await this.#sql<
      { id: string; streamer_id: string; instance: string | null; epoch: string | null }[]
    >`
      SELECT id, streamer_id, instance, epoch FROM status_events ORDER BY id`;
    const events: WrittenEvent[] = all.map((row) =>
      this.#events.get(Number(row.id)) ?? {
        id: Number(row.id),
        streamerId: Number(row.streamer_id),
        instance: row.instance,
        epoch: row.epoch === null ? null : Number(row.epoch),
        seenInSample: null,
      }
    );
    return {
      longestOwnerless: this.#tracker.longest(faults, Date.now()),
      claims: this.#claims.size,
      staleAccepted: findStaleWrites(events, [...this.#claims.values()]),
      attributed: events.filter((e) => e.instance !== null && e.epoch !== null).length,
      recorded: events.length,
    };
  }

  async #take(): Promise<void> {
    const floor = Math.max(0, this.#maxEventId - 2_000);
    const at = Date.now();
    // One snapshot for all three reads: "first seen in a later sample" then means "committed later".
    const [leases, claims, events] = await this.#sql.begin(
      "isolation level repeatable read",
      async (tx) => [
        await tx<{ id: string; owner: string | null; expired: boolean; handover: boolean }[]>`
        SELECT s.id, l.owner, (l.expires_at IS NULL OR l.expires_at < now()) AS expired,
               (l.handover_to IS NOT NULL) AS handover
          FROM streamers s LEFT JOIN streamer_leases l ON l.streamer_id = s.id`,
        await tx<{ streamer_id: string; epoch: string; owner: string }[]>`
        SELECT streamer_id, epoch, owner FROM lease_log`,
        await tx<
          { id: string; streamer_id: string; instance: string | null; epoch: string | null }[]
        >`
        SELECT id, streamer_id, instance, epoch FROM status_events WHERE id > ${floor}`,
      ],
    );
    const sample = this.#sample++;
    for (const row of claims) {
      const key = `${row.streamer_id}:${row.epoch}`;
      if (!this.#claims.has(key)) {
        this.#claimSeenAt.set(key, at);
        this.#claims.set(key, {
          streamerId: Number(row.streamer_id),
          epoch: Number(row.epoch),
          owner: row.owner,
          seenInSample: sample,
        });
      }
    }
    for (const row of events) {
      const id = Number(row.id);
      this.#maxEventId = Math.max(this.#maxEventId, id);
      if (this.#events.has(id)) continue;
      this.#events.set(id, {
        id,
        streamerId: Number(row.streamer_id),
        instance: row.instance,
        epoch: row.epoch === null ? null : Number(row.epoch),
        // The first sample cannot tell old rows from new ones.
        seenInSample: sample === 0 ? null : sample,
      });
    }
    const disabled = this.#options.disabled();
    const ownerless = leases
      .filter((l) => l.owner === null || l.expired || disabled.has(l.owner))
      .map((l) => Number(l.id));
    this.#ownerless = ownerless.length;
    this.#settled = ownerless.length === 0 && !leases.some((l) => l.handover);
    this.#lastSampleAt = at;
    if (this.#tracking) {
      this.#tracker.observe({ at, ownerless: this.#options.clipped() ? [] : ownerless });
    }
  }
}
