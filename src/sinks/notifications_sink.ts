/**
 * The notifications sink (issue 13): its durable part writes the outbox rows of every newly recorded event
 * inside the transaction that records it (src/store/notifications.ts: one delivery per matching target,
 * unique per event and target), so a crash, a restart, an outage or a second monitor never sends twice and
 * never loses one; its worker (src/notify/worker.ts) claims due deliveries with SKIP LOCKED and sends them.
 */
import type { Sink, SinkContext, SinkFactory } from "../monitor/contracts.ts";
import { committedEvent } from "../notify/matching.ts";
import { NotificationWorker } from "../notify/worker.ts";
import { createDeliveries, releaseStaleClaims } from "../store/notifications.ts";
import { listTargets } from "../store/notification_targets.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";

/** The notifications sink's factory (registered in ./mod.ts). */
export const notificationsSink: SinkFactory = {
  name: "notifications",
  create(context: SinkContext): Sink {
    const worker = new NotificationWorker({
      db: context.store.db,
      metrics: context.metrics,
      write: context.consoleOutput,
      // Claims carry the monitor's instance name, so a restart can tell its dead claims from live ones.
      workerId: context.config.instance,
    });
    /** Events whose batch queued deliveries, until it commits (a rolled-back batch is retried). */
    const awaitingCommit = new Set<string>();
    const remember = (keys: string[]) => {
      // Bounded: keys of batches abandoned for good would otherwise stay; the idle timer finds their rows.
      if (awaitingCommit.size > 10_000) awaitingCommit.clear();
      for (const key of keys) awaitingCommit.add(key);
    };
    return {
      name: "notifications",
      async start() {
        // A claim no live monitor holds is a killed one's.
        const released = await releaseStaleClaims(context.store.db, {
          self: context.config.instance,
          ttlSeconds: context.config.leaseTtlSeconds,
        }).catch(() => 0);
        if (released > 0) {
          log.info("resuming notifications a stopped monitor had claimed", { released });
        }
        worker.start();
      },
      stop: () => worker.stop(),
      async inTransaction(tx, events) {
        // In a savepoint: a notification bug must never cost the event itself (the batch would roll back
        // and be retried forever). What it failed to write is logged; the event stands. Most batches find no
        // target to notify: one plain read settles that, without the savepoint's two statements (a batch is
        // ~8 statements; on PGlite each costs ~0.3 ms, bench 2).
        try {
          const targets = await listTargets(tx);
          if (targets.length === 0) return;
          const committed = events.map((e) =>
            committedEvent(e.transition, { id: e.eventId, streamerId: e.streamerId })
          );
          const created = await tx.transaction((savepoint) =>
            createDeliveries(savepoint, committed, { targets })
          );
          if (created > 0) remember(events.map((e) => e.transition.dedupeKey));
        } catch (error) {
          log.error("could not queue notifications for recorded events", {
            events: events.length,
            error: describeError(error),
          });
        }
      },
      committed(transitions) {
        // Only a batch that queued deliveries wakes the worker: its claim is a statement (~3 ms on PGlite,
        // bench 2) that would otherwise follow every batch. Deliveries queued by other monitors, or held by
        // quiet hours, are found by the worker's own idle timer.
        let wake = false;
        for (const t of transitions) wake = awaitingCommit.delete(t.dedupeKey) || wake;
        if (wake) worker.wake();
      },
    };
  },
};
