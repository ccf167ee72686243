/**
 * The delivery worker: claims due deliveries (src/store/notifications.ts), sends each through its service
 * (src/notify/send.ts: one message), and records the outcome. Each target is a lane: its messages go one at a
 * time, paced by its own token bucket and paused for exactly as long as the service asks (a 429's
 * retry_after / Retry-After, or Discord's `X-RateLimit-Remaining: 0` with `Reset-After`), so a backlog
 * drains at the rate the service allows and no request leaves inside a wait it announced. Lanes of different
 * targets run side by side and independently: the loop claims again while a lane waits, leaving that
 * target's rows to the claim after its lane ends.
 *
 * Several workers (instances) may run on one database: claims are leased rows taken with SKIP LOCKED.
 */
import { type HttpClient, TokenBucket } from "../lib/http.ts";
import { sleep } from "../lib/backoff.ts";
import { withTimeout } from "../lib/timeout.ts";
import { addSecret, log, redact } from "../lib/log.ts";
import { describeError } from "../lib/errors.ts";
import type { Counter, Registry } from "../http/metrics.ts";
import type { Db } from "../store/db.ts";
import {
  claimDue,
  type ClaimedDelivery,
  markDelivered,
  markFailed,
  markRetry,
  releaseClaims,
} from "../store/notifications.ts";
import { decideRetry, type RetryPolicy } from "./retry.ts";
import { type NotificationService, SERVICES } from "./services/mod.ts";
import { type ParsedTarget, parseTargetUrl } from "./target_url.ts";
import type { TargetKind } from "./types.ts";
import { createNotificationHttpClient, notificationOf } from "./send.ts";

/** Options of {@link NotificationWorker}. */
export interface NotificationWorkerOptions {
  /** The database (pool) deliveries live in. */
  db: Db;
  /** Recorded on claims; `hostname-pid` by default. */
  workerId?: string;
  /** The HTTP client; one made for notifications by default (10 s timeout, no retries of its own). */
  http?: HttpClient;
  /** Where `kick_monitor_notifications_total{target,state}` is counted. */
  metrics?: Registry;
  /** The services by kind; src/notify/services/mod.ts by default (tests swap them). */
  services?: Readonly<Record<TargetKind, NotificationService>>;
  /** Overrides of a service's own pacing, in requests per second per target. */
  ratePerSecond?: Partial<Record<TargetKind, number>>;
  /** Deliveries claimed per round (default 50). */
  batchSize?: number;
  /** How often to look for due deliveries when idle and not woken (default 1 s). */
  idleMs?: number;
  /** How long a claim holds (default 2 min). */
  leaseMs?: number;
  /** A rate-limit wait longer than this gives the lane's claims back instead of holding them (default 30 s). */
  maxHoldMs?: number;
  retry?: RetryPolicy;
  /** Console service output; stdout by default. */
  write?: (line: string) => void;
}

/**
 * A lane's token bucket allows a quarter of an interval of slack: with none (burst 1), one request sent late
 * (a GC pause, a slow claim) pushes every later slot back by as much, so a target busy at its sustained rate
 * keeps that delay for good (bench 7a). The sustained rate is unchanged; two requests may come 0.75 of an
 * interval apart, and a service's own window is still obeyed through its headers and 429s.
 */
const PACING_BURST = 1.25;

/** How long one of the worker's database calls may take before it is abandoned. */
const DB_CALL_TIMEOUT_MS = 10_000;

/** 429s in a row for one delivery before it is given a scheduled retry instead of an immediate resend. */
const MAX_RESENDS = 5;

interface Lane {
  bucket: TokenBucket;
  /**
   * When the service's current window ends, after an answer that used it up (`X-RateLimit-Remaining: 0`).
   * Kept apart from the bucket's pause, which also spends the bucket's slack: the window's end is the service
   * granting a fresh window, not refusing us, so the slack stays (a send delayed to the window's end does not
   * push back the next ones).
   */
  windowEndsAt: number;
}

/** Until when nothing may be sent to the lane's target: a 429's wait or the end of a used-up window. */
function pausedUntil(lane: Lane): number {
  return Math.max(lane.bucket.pausedUntil, lane.windowEndsAt);
}

/** One message in every supported service, with retries, pacing and the exactly-once log. See the module doc. */
export class NotificationWorker {
  readonly #db: Db;
  readonly #workerId: string;
  readonly #http: HttpClient;
  readonly #services: Readonly<Record<TargetKind, NotificationService>>;
  readonly #rates: Partial<Record<TargetKind, number>>;
  readonly #batchSize: number;
  readonly #idleMs: number;
  readonly #leaseMs: number;
  readonly #maxHoldMs: number;
  readonly #retry: RetryPolicy;
  readonly #write?: (line: string) => void;
  readonly #counter: Counter | null;
  readonly #lanes = new Map<number, Lane>();
  /**
   * Deliveries the service took whose record the database refused (an outage): recorded, never sent again, if
   * this worker claims them once more.
   */
  readonly #unrecorded = new Map<number, { messageRef: string | null; at: Date }>();
  readonly #stop = new AbortController();
  /** Targets whose lane is sending now, with the lane's promise. */
  readonly #busy = new Map<number, Promise<void>>();
  #running: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #wakeRequested = false;

  constructor(options: NotificationWorkerOptions) {
    this.#db = options.db;
    this.#workerId = options.workerId ?? `${Deno.hostname()}-${Deno.pid}`;
    this.#http = options.http ?? createNotificationHttpClient();
    this.#services = options.services ?? SERVICES;
    this.#rates = options.ratePerSecond ?? {};
    this.#batchSize = options.batchSize ?? 50;
    this.#idleMs = options.idleMs ?? 1000;
    this.#leaseMs = options.leaseMs ?? 120_000;
    this.#maxHoldMs = options.maxHoldMs ?? 30_000;
    this.#retry = options.retry ?? {};
    this.#write = options.write;
    this.#counter = options.metrics?.counter(
      "kick_monitor_notifications_total",
      "Notification deliveries settled or retried, by target and state (delivered, failed, retry)",
    ) ?? null;
  }

  /** Starts the loop in the background. */
  start(): void {
    this.#running ??= this.#loop();
  }

  /** Looks for due deliveries now (call after committing events that created some). */
  wake(): void {
    this.#wakeRequested = true;
    this.#wake?.();
  }

  /**
   * Stops promptly: waits and in-flight requests are aborted, and claimed deliveries not yet settled are given
   * back (released) for the next run, so nothing is lost or sent twice by this worker.
   */
  async stop(): Promise<void> {
    this.#stop.abort(new Error("notification worker stopped"));
    this.wake();
    await this.#running;
  }

  /** One round: claims due deliveries and sends them, lane by lane. Returns how many it claimed. */
  async runOnce(): Promise<number> {
    const claimed = await this.#claimAndStart();
    await Promise.all(this.#busy.values());
    return claimed;
  }

  /**
   * Claims due deliveries of the targets not busy now and starts a lane for each target, without waiting for
   * it: a target waiting out a rate limit (within its claim, up to `maxHoldMs`) must not hold up the others.
   * A busy target's new deliveries are left for the claim after its lane ends (which wakes the loop).
   */
  async #claimAndStart(): Promise<number> {
    const now = Date.now();
    const excluded = [...this.#lanes].filter(([, lane]) => pausedUntil(lane) > now + 1000)
      .map(([id]) => id);
    const claimed = await this.#bounded(
      claimDue(this.#db, {
        limit: this.#batchSize,
        now: new Date(now),
        workerId: this.#workerId,
        leaseMs: this.#leaseMs,
        excludeTargetIds: [...new Set([...excluded, ...this.#busy.keys()])],
      }),
      "claiming deliveries",
    );
    const byTarget = new Map<number, ClaimedDelivery[]>();
    for (const delivery of claimed) {
      const list = byTarget.get(delivery.target.id) ?? [];
      list.push(delivery);
      byTarget.set(delivery.target.id, list);
    }
    for (const [targetId, deliveries] of byTarget) {
      const running = this.#drainLane(deliveries).finally(() => {
        this.#busy.delete(targetId);
        this.wake();
      });
      this.#busy.set(targetId, running);
    }
    return claimed.length;
  }

  async #loop(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      let claimed = 0;
      // A wake from here on (a commit during the claim) is kept for #idle, never lost.
      this.#wakeRequested = false;
      try {
        claimed = await this.#claimAndStart();
      } catch (error) {
        if (signal.aborted) break;
        log.warn("Notification worker could not claim deliveries; trying again", {
          error: describeError(error),
        });
      }
      if (claimed === 0 && !signal.aborted) await this.#idle();
    }
    // Stopping: each lane gives back what it has not sent.
    await Promise.all(this.#busy.values());
  }

  /** Sleeps until woken (or woken since the last claim began), stopped, or `idleMs` passes. */
  async #idle(): Promise<void> {
    if (this.#wakeRequested) return;
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    await Promise.race([woken, sleep(this.#idleMs, this.#stop.signal).catch(() => {})]);
    this.#wake = null;
  }

  #lane(delivery: ClaimedDelivery): Lane {
    let lane = this.#lanes.get(delivery.target.id);
    if (lane === undefined) {
      const kind = delivery.target.kind;
      const rate = this.#rates[kind] ?? this.#services[kind].ratePerSecond;
      lane = {
        bucket: new TokenBucket({ ratePerSecond: rate, burst: PACING_BURST }),
        windowEndsAt: -Infinity,
      };
      this.#lanes.set(delivery.target.id, lane);
    }
    return lane;
  }

  /** Sends one target's claimed deliveries in order; gives back what it cannot send now. */
  async #drainLane(deliveries: ClaimedDelivery[]): Promise<void> {
    const signal = this.#stop.signal;
    // Half the lease: the claims must be settled or given back well before another worker may take them.
    const releaseAt = Date.now() + this.#leaseMs / 2;
    let index = 0;
    let resends = 0;
    try {
      while (index < deliveries.length) {
        const delivery = deliveries[index];
        const lane = this.#lane(delivery);
        const holdMs = pausedUntil(lane) - Date.now();
        if (holdMs > this.#maxHoldMs || Date.now() + Math.max(0, holdMs) > releaseAt) {
          await this.#bounded(
            releaseClaims(
              this.#db,
              deliveries.slice(index).map((d) => d.id),
              new Date(Math.max(Date.now(), pausedUntil(lane))),
            ),
            "giving claims back",
          );
          return;
        }
        const sent = this.#unrecorded.get(delivery.id);
        if (sent !== undefined) {
          await this.#recordDelivered(delivery, sent, releaseAt);
          index++;
          continue;
        }
        const windowWaitMs = lane.windowEndsAt - Date.now();
        if (windowWaitMs > 0) await sleep(windowWaitMs, signal);
        await lane.bucket.take(signal);
        const outcome = await this.#deliver(delivery, lane, resends, releaseAt);
        if (outcome === "again") {
          resends++;
          continue;
        }
        resends = 0;
        index++;
      }
    } catch (error) {
      // Stopped (or the database failed): whatever is left goes back, untried.
      const rest = deliveries.slice(index).map((d) => d.id);
      await this.#bounded(releaseClaims(this.#db, rest, new Date()), "giving claims back")
        .catch(() => {});
      if (!signal.aborted) {
        log.warn("Notification worker stopped a lane", { error: describeError(error) });
      }
    }
  }

  /**
   * A database call that gives up after DB_CALL_TIMEOUT_MS: a query on a connection the network dropped
   * silently can hang for good, and with it the loop (the soak's database cut left every later delivery
   * pending: nothing was claimed again). The writer bounds its writes the same way.
   */
  #bounded<T>(work: Promise<T>, what: string): Promise<T> {
    return withTimeout(work, DB_CALL_TIMEOUT_MS, `the notification worker ${what}`);
  }

  /**
   * Records a delivery the service took. The message is out: were the record lost (the database unreachable
   * for a moment), the claim would come back and the message be sent twice. So the record is retried with
   * back-off until the claim's deadline, and then remembered in memory for the next claim of the row.
   */
  async #recordDelivered(
    delivery: ClaimedDelivery,
    outcome: { messageRef: string | null; at: Date },
    until: number,
  ): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.#bounded(markDelivered(this.#db, delivery.id, outcome), "recording a delivery");
        this.#unrecorded.delete(delivery.id);
        this.#count(delivery.target.name, "delivered");
        return;
      } catch (error) {
        this.#unrecorded.set(delivery.id, outcome);
        if (this.#stop.signal.aborted || Date.now() >= until) throw error;
        log.warn("Could not record a sent notification; trying again", {
          delivery: delivery.id,
          error: describeError(error),
        });
        await sleep(Math.min(5_000, 200 * 2 ** attempt), this.#stop.signal).catch(() => {});
      }
    }
  }

  /** Sends one delivery and records the outcome; "again" when a rate limit asks to resend it after a pause. */
  async #deliver(
    delivery: ClaimedDelivery,
    lane: Lane,
    resends: number,
    releaseAt: number,
  ): Promise<"done" | "again"> {
    const target = delivery.target;
    if (delivery.kind === "offline" && delivery.replyTo?.state === "failed") {
      await this.#bounded(
        markFailed(this.#db, delivery.id, "not sent: the online notification was not delivered"),
        "recording a failure",
      );
      this.#count(target.name, "failed");
      return "done";
    }
    let parsed: ParsedTarget;
    try {
      parsed = parseTargetUrl(target.url, target.kind);
    } catch (error) {
      await this.#bounded(
        markFailed(this.#db, delivery.id, redact(describeError(error))),
        "recording a failure",
      );
      this.#count(target.name, "failed");
      return "done";
    }
    for (const secret of parsed.secrets) addSecret(secret);
    const result = await this.#services[target.kind].send(
      target,
      parsed,
      notificationOf(delivery),
      { http: this.#http, signal: this.#stop.signal, write: this.#write },
    );
    const now = new Date();
    if (result.ok) {
      if (result.pauseMs !== null) {
        lane.windowEndsAt = Math.max(lane.windowEndsAt, Date.now() + result.pauseMs);
      }
      await this.#recordDelivered(delivery, { messageRef: result.messageRef, at: now }, releaseAt);
      return "done";
    }
    const reason = redact(result.reason);
    if (result.rateLimited) {
      const waitMs = result.retryAfterMs ?? 1000;
      lane.bucket.pauseUntil(Date.now() + waitMs);
      log.debug("Notification target is rate limiting us; pausing it", {
        target: target.name,
        waitMs,
      });
      this.#count(target.name, "retry");
      // Resent after the pause, within this claim; a target that keeps refusing gets a scheduled retry.
      if (waitMs <= this.#maxHoldMs && resends < MAX_RESENDS) return "again";
    }
    const decision = decideRetry(
      { ...result, reason },
      { attempts: delivery.attempts, createdAt: delivery.createdAt, now },
      this.#retry,
    );
    if (decision.kind === "retry") {
      await this.#bounded(
        markRetry(this.#db, delivery.id, { nextAttemptAt: decision.at, error: reason }),
        "scheduling a retry",
      );
      if (!result.rateLimited) this.#count(target.name, "retry");
      log.debug("Notification not delivered; will retry", {
        target: target.name,
        delivery: delivery.id,
        reason,
        at: decision.at.toISOString(),
      });
    } else {
      await this.#bounded(
        markFailed(this.#db, delivery.id, decision.reason),
        "recording a failure",
      );
      this.#count(target.name, "failed");
      log.warn("Notification failed", {
        target: target.name,
        delivery: delivery.id,
        slug: delivery.slug,
        kind: delivery.kind,
        reason: decision.reason,
      });
    }
    return "done";
  }

  #count(target: string, state: "delivered" | "failed" | "retry"): void {
    this.#counter?.inc({ target, state });
  }
}
