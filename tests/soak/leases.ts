/**
 * The soak's verdict on leases (`--instances N`): how long streamers went without a working owner, and whether
 * the database accepted a write from a monitor that had lost the streamer's lease. Pure: the harness samples
 * `streamer_leases`, `lease_log` and `status_events` (harness.ts) and hands the observations here, so the rules
 * are tested without a daemon or a database (leases_test.ts).
 *
 * **Ownerless.** A streamer is ownerless while its lease has no owner, has expired, or is held by a monitor the
 * harness has disabled (killed, paused, or cut off from the database): nobody can record its changes. Each
 * streamer's longest continuous stretch is kept, with the fault that was last injected before it began.
 *
 * **Stale writes accepted.** Every `status_events` row carries the monitor that wrote it (`instance`) and the
 * epoch of the lease it wrote under (`epoch`); `lease_log` has one row per successful claim. A row is a stale
 * write accepted when any of these holds:
 * 1. *foreign epoch*: no claim of that streamer at that epoch was made by that instance (`lease_log` has no
 *    row for the epoch, or its owner is someone else);
 * 2. *epoch regression*: an earlier row of the same streamer (by id) carries a higher epoch: a newer owner had
 *    already written when this one was accepted;
 * 3. *written after a newer claim*: the harness first saw the row in a sample taken after one where a newer
 *    claim of the streamer (a higher epoch in `lease_log`) was already visible: it was committed after the
 *    lease had passed on. Samples read both tables in one snapshot, so "first visible in a later sample" means
 *    "committed later" without trusting any clock.
 */

/** One sample's ownership: the streamers nobody can record for at that moment. */
export interface OwnershipSample {
  /** Milliseconds since the epoch. */
  at: number;
  /** Streamers with no owner, an expired lease, or an owner the harness has disabled. */
  ownerless: Iterable<number>;
}

/** A fault as the harness injected it, for attributing an ownerless stretch. */
export interface InjectedFault {
  kind: string;
  at: number;
  /** The monitor it hit, when it hit one. */
  instance?: string;
}

/** The longest stretch of one streamer without a working owner. */
export interface OwnerlessStretch {
  streamerId: number;
  from: number;
  until: number;
  ms: number;
  /** The fault injected last before the stretch began (null when none had been). */
  fault: InjectedFault | null;
}

/**
 * Tracks continuous ownerless stretches per streamer across samples. A stretch runs from the first sample that
 * saw the streamer ownerless to the first that saw it owned (so it may be up to one sampling interval longer
 * than the truth, never shorter by more than one).
 */
export class OwnerlessTracker {
  readonly #open = new Map<number, number>();
  readonly #longest = new Map<number, { from: number; until: number }>();
  #lastAt: number | null = null;

  /** Takes one sample, in time order. */
  observe(sample: OwnershipSample): void {
    const now = new Set(sample.ownerless);
    for (const [id, from] of this.#open) {
      if (!now.has(id)) {
        this.#close(id, from, sample.at);
        this.#open.delete(id);
      }
    }
    for (const id of now) if (!this.#open.has(id)) this.#open.set(id, sample.at);
    this.#lastAt = sample.at;
  }

  /** Streamers ownerless in the last sample. */
  get openCount(): number {
    return this.#open.size;
  }

  /**
   * The longest stretch of any streamer (stretches still open end at `at`, or at the last sample), with the
   * fault that preceded it; null when no streamer was ever ownerless.
   */
  longest(faults: readonly InjectedFault[], at?: number): OwnerlessStretch | null {
    const end = at ?? this.#lastAt ?? 0;
    let best: { id: number; from: number; until: number } | null = null;
    const consider = (id: number, from: number, until: number) => {
      if (best === null || until - from > best.until - best.from) best = { id, from, until };
    };
    for (const [id, stretch] of this.#longest) consider(id, stretch.from, stretch.until);
    for (const [id, from] of this.#open) consider(id, from, Math.max(from, end));
    if (best === null) return null;
    const { id, from, until } = best;
    return { streamerId: id, from, until, ms: until - from, fault: faultBefore(faults, from) };
  }

  #close(id: number, from: number, until: number): void {
    const previous = this.#longest.get(id);
    if (previous === undefined || until - from > previous.until - previous.from) {
      this.#longest.set(id, { from, until });
    }
  }
}

/** The fault injected last at or before `at` (faults need not be sorted). */
export function faultBefore(faults: readonly InjectedFault[], at: number): InjectedFault | null {
  let found: InjectedFault | null = null;
  for (const fault of faults) {
    if (fault.at <= at && (found === null || fault.at >= found.at)) found = fault;
  }
  return found;
}

/** One `lease_log` row, with the sample in which the harness first saw it. */
export interface ClaimRecord {
  streamerId: number;
  epoch: number;
  owner: string;
  /** Index of the first sample that saw the row. */
  seenInSample: number;
}

/** One `status_events` row's authorship, with the sample in which the harness first saw it. */
export interface WrittenEvent {
  id: number;
  streamerId: number;
  /** `status_events.instance`; null when the writer did not say (itself a stale write: rule 1). */
  instance: string | null;
  epoch: number | null;
  /** Index of the first sample that saw the row; null when only the final read saw it. */
  seenInSample: number | null;
}

/** Why an event is a stale write accepted (see the module's rules). */
export type StaleReason = "foreign-epoch" | "epoch-regression" | "after-newer-claim";

/** One stale write accepted, for the report. */
export interface StaleWrite {
  eventId: number;
  streamerId: number;
  instance: string | null;
  epoch: number | null;
  reason: StaleReason;
  detail: string;
}

/** Every event accepted although its writer did not hold the streamer's current lease (one reason each). */
export function findStaleWrites(
  events: readonly WrittenEvent[],
  claims: readonly ClaimRecord[],
): StaleWrite[] {
  const claimsOf = new Map<number, ClaimRecord[]>();
  for (const claim of claims) {
    const list = claimsOf.get(claim.streamerId) ?? [];
    list.push(claim);
    claimsOf.set(claim.streamerId, list);
  }
  const stale: StaleWrite[] = [];
  const highestEpoch = new Map<number, number>();
  for (const event of [...events].sort((a, b) => a.id - b.id)) {
    const mine = claimsOf.get(event.streamerId) ?? [];
    const flag = (reason: StaleReason, detail: string) =>
      stale.push({
        eventId: event.id,
        streamerId: event.streamerId,
        instance: event.instance,
        epoch: event.epoch,
        reason,
        detail,
      });
    const before = highestEpoch.get(event.streamerId);
    if (event.epoch !== null && (before === undefined || event.epoch > before)) {
      highestEpoch.set(event.streamerId, event.epoch);
    }
    const claim = event.epoch === null ? undefined : mine.find((c) => c.epoch === event.epoch);
    if (claim === undefined || event.instance === null || claim.owner !== event.instance) {
      flag(
        "foreign-epoch",
        claim === undefined
          ? `no claim at epoch ${event.epoch}`
          : `epoch ${event.epoch} was claimed by ${claim.owner}, written by ${event.instance}`,
      );
      continue;
    }
    if (before !== undefined && event.epoch! < before) {
      flag("epoch-regression", `epoch ${event.epoch} after an event under epoch ${before}`);
      continue;
    }
    if (event.seenInSample !== null) {
      const newer = mine.find((c) =>
        c.epoch > event.epoch! && c.seenInSample < event.seenInSample!
      );
      if (newer !== undefined) {
        flag(
          "after-newer-claim",
          `committed after ${newer.owner} claimed epoch ${newer.epoch} (samples ${newer.seenInSample} < ${event.seenInSample})`,
        );
      }
    }
  }
  return stale;
}
