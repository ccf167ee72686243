/**
 * The pure decisions of streamer ownership among several monitors (issue 16): each live monitor's fair share
 * is ⌈N/M⌉ streamers; one under its share claims free, expired or handed-over rows; one over it offers its
 * excess to the monitors short of theirs (`handover_to`) and keeps watching those rows until they are claimed,
 * so a newcomer takes its share without a gap. No I/O: ownership.ts runs it once per heartbeat with what the
 * heartbeat read (store/leases.ts).
 */
import type { OwnedLease, OwnerCount } from "../store/leases.ts";

/** ⌈total / instances⌉: the most streamers one of `instances` live monitors should own. */
export function fairShare(total: number, instances: number): number {
  if (instances <= 0) return total;
  return Math.ceil(total / instances);
}

/** What a heartbeat saw, as {@link planLeases} needs it. */
export interface LeaseFigures {
  /** This instance. */
  self: string;
  /** Live instances, this one included. */
  live: readonly string[];
  /** Streamers in all. */
  total: number;
  /** Live leases by owner and hand-over target, as the database counted them. */
  counts: readonly OwnerCount[];
  /** This instance's leases, as just renewed. */
  owned: readonly OwnedLease[];
}

/** What to do this heartbeat. */
export interface LeasePlan {
  /** The fair share. */
  quota: number;
  /** How many rows to claim (handed over to us first, then free ones); 0: no claim statement. */
  claim: number;
  /** Offers to make: mark `count` more of our rows for hand-over to `to`. */
  handovers: { to: string; count: number }[];
  /** Withdraw our offers to these instances (dead, or no longer short). */
  cancel: string[];
}

/**
 * Decides one heartbeat's claims and hand-overs.
 *
 * - Under the share: claim up to the deficit, but only as many as are claimable (free or offered to us), so a
 *   monitor that cannot grow issues no claim.
 * - Over the share, when no row is free (free rows go to the monitors short of them first): offer the excess
 *   to the live monitors short of their share, the most short first, counting offers others already made.
 * - Offers to a monitor that died, or that has its share, or made while we are no longer over, are withdrawn.
 */
export function planLeases(figures: LeaseFigures): LeasePlan {
  const live = new Set(figures.live);
  const quota = fairShare(figures.total, live.size);
  const ownedBy = new Map<string, number>();
  const offeredTo = new Map<string, number>();
  let leased = 0;
  for (const count of figures.counts) {
    leased += count.owned;
    ownedBy.set(count.owner, (ownedBy.get(count.owner) ?? 0) + count.owned);
    if (count.handoverTo !== null && live.has(count.handoverTo)) {
      offeredTo.set(count.handoverTo, (offeredTo.get(count.handoverTo) ?? 0) + count.owned);
    }
  }
  // Our own count comes from the renewal (exact); the others' from the counts.
  const mine = figures.owned.length;
  ownedBy.set(figures.self, mine);
  const free = Math.max(0, figures.total - leased);
  const deficit = quota - mine;
  const claimable = free + (offeredTo.get(figures.self) ?? 0);
  const claim = deficit > 0 ? Math.min(deficit, claimable) : 0;

  const myOffers = new Map<string, number>();
  // forEach: a for…of over 10,000 leases allocated an iterator result each, every heartbeat (ownership.ts).
  figures.owned.forEach((lease) => {
    if (lease.handoverTo === null) return;
    myOffers.set(lease.handoverTo, (myOffers.get(lease.handoverTo) ?? 0) + 1);
  });
  const cancel = [...myOffers.keys()].filter((to) =>
    !live.has(to) || mine <= quota || (ownedBy.get(to) ?? 0) >= quota
  ).sort();
  let offered = 0;
  for (const [to, count] of myOffers) if (!cancel.includes(to)) offered += count;

  const handovers: { to: string; count: number }[] = [];
  let excess = mine - quota - offered;
  if (excess > 0 && free === 0) {
    const short = [...live]
      .filter((id) => id !== figures.self)
      .map((id) => ({ id, need: quota - (ownedBy.get(id) ?? 0) - (offeredTo.get(id) ?? 0) }))
      .filter((candidate) => candidate.need > 0)
      .sort((a, b) => b.need - a.need || (a.id < b.id ? -1 : 1));
    for (const candidate of short) {
      if (excess <= 0) break;
      const count = Math.min(excess, candidate.need);
      handovers.push({ to: candidate.id, count });
      excess -= count;
    }
  }
  return { quota, claim, handovers, cancel };
}
