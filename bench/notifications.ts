/**
 * Benchmark 7, notifications (issue 13), on PostgreSQL:
 *
 * (a) Commit to the fake Discord: the real DatabaseWriter with the notifications sink's `inTransaction` hook (the
 *     outbox rows commit with the events) and its worker (woken by the sink's `committed`, as the Monitor wires
 *     it), at a steady 50 transitions/s over 100 streamers, with 20 Discord targets. Each target follows its own
 *     5 streamers (`--streamers`), so it gets 2.5 messages/s, Discord's webhook budget (5 per 2 s), and each has
 *     its own fake Discord with that budget announced in its `X-RateLimit-*` headers, as real webhooks do.
 *     Latency runs from the writer's commit (`onCommitted`'s time) to the fake accepting the request (the online's
 *     POST, the offline's edit), on the epoch clock, for every transition after a 2 s warm-up.
 * (b) A backlog drained at the target's rate: 1,000 pending deliveries to one fake Discord that allows 10
 *     requests per 200 ms window and opens with a 1 s 429 storm. The worker's own pacing is lifted
 *     (`ratePerSecond`), so only the fake's answers (429 `retry_after`, `X-RateLimit-Remaining: 0` with
 *     `Reset-After`) pace it. Floor: the storm, then 100 windows, the last opening 99 windows after the first.
 */
import { type Config, validateSettings } from "../src/config.ts";
import { openStore, type Store } from "../src/store/store.ts";
import { DatabaseWriter } from "../src/journal/database_writer.ts";
import type { JournalEntry } from "../src/journal/journal.ts";
import type { Transition } from "../src/domain/types.ts";
import { Registry } from "../src/http/metrics.ts";
import { configureLogging } from "../src/lib/log.ts";
import { notificationsSink } from "../src/sinks/notifications_sink.ts";
import { addTarget } from "../src/store/notification_targets.ts";
import { listDeliveries } from "../src/store/delivery_log.ts";
import { NotificationWorker } from "../src/notify/worker.ts";
import type { NotificationTarget } from "../src/notify/types.ts";
import { type FakeDiscord, startFakeDiscord } from "../tests/fakes/notification_services.ts";
import { createBenchDatabase, delay, type Figure, quantile, round, waitUntil } from "./lib.ts";

export interface NotificationsBenchOptions {
  /** Seconds measured after the warm-up (default 20). */
  seconds?: number;
  /** Transitions per second (default 50). */
  rate?: number;
  /** Targets (default 20). */
  targets?: number;
  /** Pending deliveries of the drain (default 1,000). */
  backlog?: number;
  /** Requests per 2 s window each fake Discord of (a) allows (default 5, Discord's webhook budget). */
  windowLimit?: number;
}

const TOKEN = "bench-notify-token_ABCDEFGHIJKLMNOPQRSTUV";
const STREAMERS = 100;

function target(name: string, url: string, streamerIds: number[] | null): Omit<
  NotificationTarget,
  "id" | "createdAt"
> {
  return {
    name,
    kind: "discord",
    url,
    streamerIds,
    events: ["online", "offline"],
    mention: null,
    templateOnline: null,
    templateOffline: null,
    quietHours: null,
    timezone: null,
    secret: null,
  };
}

/** The `n`-th change of streamer `slug`: online on even `n`, offline on odd, a new livestream per online. */
function transition(slug: string, index: number, n: number, at: number): Transition {
  const type = n % 2 === 0 ? "online" : "offline";
  const livestreamId = 5_000_000 + index * 10_000 + Math.floor(n / 2);
  return {
    dedupeKey: `${slug}:${type}:${livestreamId}`,
    slug,
    type,
    occurredAt: new Date(at),
    receivedAt: new Date(at),
    source: "pusher",
    livestreamId,
    title: type === "online" ? `${slug} stream ${n / 2}` : null,
    category: type === "online" ? "Just Chatting" : null,
    baseline: false,
    raw: null,
  };
}

/** A configuration for the sink (it reads none of it; the contract asks for one). */
function benchConfig(databaseUrl: string): Config {
  const settings = validateSettings({
    KICK_CLIENT_ID: "bench",
    KICK_CLIENT_SECRET: "bench-secret",
    DATABASE_URL: databaseUrl,
    KICK_MONITOR_HTTP: "off",
    LOG_LEVEL: "warn",
  });
  if (settings.config === null) throw new Error(settings.problems.join("; "));
  return settings.config;
}

async function prepareStore(url: string, streamers: number): Promise<Store> {
  const store = await openStore({ databaseUrl: url });
  await store.migrate();
  await store.addStreamers(
    Array.from({ length: streamers }, (_, i) => ({ slug: `s${i}`, broadcasterUserId: i + 1 })),
  );
  return store;
}

/** The slug a stored fake message is about (embed title "{slug} is/was live on Kick"). */
function slugOf(message: Record<string, unknown>): string {
  return (message.embeds as { title: string }[])[0].title.split(" ")[0];
}

async function runLatency(options: NotificationsBenchOptions): Promise<Figure[]> {
  const seconds = options.seconds ?? 20;
  const rate = options.rate ?? 50;
  const targets = options.targets ?? 20;
  const warmupMs = 2_000;
  const name = `7a notifications: commit to Discord, ${rate} transitions/s, ${targets} targets`;
  const database = await createBenchDatabase("notify");
  const fakes: FakeDiscord[] = [];
  const store = await prepareStore(database.url, STREAMERS);
  const abort = new AbortController();
  let writer: DatabaseWriter | null = null;
  let sink: ReturnType<typeof notificationsSink.create> = null;
  try {
    const ids = new Map((await store.listStreamers()).map((s) => [s.slug, s.id]));
    for (let t = 0; t < targets; t++) {
      const fake = await startFakeDiscord({ limit: options.windowLimit ?? 5, windowMs: 2000 });
      fake.addWebhook(String(100 + t), TOKEN);
      fakes.push(fake);
      const mine: number[] = [];
      for (let s = t; s < STREAMERS; s += targets) mine.push(ids.get(`s${s}`)!);
      await addTarget(store.db, target(`t${t}`, fake.webhookUrl(String(100 + t), TOKEN), mine));
    }
    sink = notificationsSink.create({
      config: benchConfig(database.url),
      store,
      metrics: new Registry(),
      signal: abort.signal,
      now: () => Date.now(),
    });
    if (sink === null) throw new Error("The notifications sink turned itself off");
    const theSink = sink;
    await theSink.start?.();
    // Commit times per slug, in order: the k-th request a fake accepts about a slug answers its k-th change.
    const commits = new Map<string, number[]>();
    writer = new DatabaseWriter({
      store,
      cursor: { markCommitted: () => Promise.resolve() },
      inTransaction: [theSink.inTransaction!.bind(theSink)],
      onCommitted: (entries: JournalEntry[], committedAt: number) => {
        for (const entry of entries) {
          const list = commits.get(entry.transition.slug) ?? [];
          list.push(committedAt);
          commits.set(entry.transition.slug, list);
        }
        theSink.committed?.(entries.map((e) => e.transition), committedAt);
      },
    });
    writer.start();

    // A steady schedule: transition n at start + n / rate, round-robin over the streamers.
    const total = Math.round(rate * (warmupMs / 1000 + seconds));
    const started = Date.now();
    const measureFrom = started + warmupMs;
    for (let n = 0; n < total; n++) {
      const due = started + (n * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await delay(wait);
      const index = n % STREAMERS;
      const at = Date.now();
      writer.enqueue([{
        seq: n + 1,
        transition: transition(`s${index}`, index, Math.floor(n / STREAMERS), at),
      }]);
    }
    const acceptedCount = () => fakes.reduce((sum, f) => sum + f.acceptedLog.length, 0);
    await waitUntil("every notification", () => acceptedCount() >= total, {
      timeoutMs: 30_000,
      everyMs: 50,
    }).catch(() => {});

    const latencies: number[] = [];
    let missing = 0;
    const seen = new Map<string, number>();
    const early = fakes.reduce((sum, f) => sum + f.stats.early, 0);
    const rateLimited = fakes.reduce((sum, f) => sum + f.stats.rateLimited, 0);
    for (const fake of fakes) {
      fake.acceptedLog.forEach((entry, i) => {
        const slug = slugOf(entry.message);
        const k = seen.get(slug) ?? 0;
        seen.set(slug, k + 1);
        const committedAt = commits.get(slug)?.[k];
        if (committedAt === undefined || committedAt < measureFrom) return;
        latencies.push(performance.timeOrigin + fake.stats.accepted[i] - committedAt);
      });
    }
    for (const list of commits.values()) {
      missing += list.length;
    }
    missing -= [...seen.values()].reduce((a, b) => a + b, 0);
    latencies.sort((a, b) => a - b);
    const p99 = quantile(latencies, 0.99);
    const delivered = await listDeliveries(store.db, { limit: 100_000 });
    const notDelivered = delivered.filter((d) => d.state !== "delivered").length;
    const row = (figure: string, value: number, target: string, pass: boolean | null) => ({
      benchmark: name,
      figure,
      unit: "ms",
      ours: round(value, 1),
      peer: null,
      ratio: null,
      target,
      pass,
    });
    return [
      {
        ...row("p50", quantile(latencies, 0.5), "(reported)", null),
        note: `${latencies.length} deliveries measured (${rate * seconds} transitions after a ` +
          `${warmupMs} ms warm-up); ${missing} not received, ${notDelivered} not delivered in the ` +
          `outbox; ${rateLimited} answered 429, ${early} inside an announced wait`,
      },
      row(
        "p99",
        p99,
        "≤ 100 ms, none lost, never early",
        p99 <= 100 && missing === 0 && early === 0,
      ),
      row("max", latencies.at(-1) ?? NaN, "(reported)", null),
    ];
  } finally {
    await sink?.stop?.();
    await writer?.stop();
    abort.abort();
    await store.close();
    for (const fake of fakes) await fake.close();
    await database.drop();
  }
}

async function runDrain(options: NotificationsBenchOptions): Promise<Figure[]> {
  const backlog = options.backlog ?? 1_000;
  const limit = 10;
  const windowMs = 200;
  const stormMs = 1_000;
  const name = `7b notifications: ${
    backlog.toLocaleString("en")
  } pending to a 429-ing Discord (${limit} per ${windowMs} ms)`;
  const database = await createBenchDatabase("notify_drain");
  const fake = await startFakeDiscord({ limit, windowMs });
  fake.addWebhook("200", TOKEN);
  const store = await prepareStore(database.url, backlog);
  let worker: NotificationWorker | null = null;
  try {
    await addTarget(store.db, target("busy", fake.webhookUrl("200", TOKEN), null));
    // The backlog: one go-live of each of `backlog` streamers, committed with its outbox rows.
    const sink = notificationsSink.create({
      config: benchConfig(database.url),
      store,
      metrics: new Registry(),
      signal: new AbortController().signal,
      now: () => Date.now(),
    })!;
    const now = Date.now();
    await store.applyTransitions(
      Array.from({ length: backlog }, (_, i) => transition(`s${i}`, i, 0, now + i)),
      { inTransaction: [sink.inTransaction!.bind(sink)] },
    );
    const pending = (await listDeliveries(store.db, { limit: backlog + 1 })).length;
    if (pending !== backlog) {
      throw new Error(`Expected ${backlog} pending deliveries, found ${pending}`);
    }
    fake.storm(stormMs);
    const started = performance.now();
    worker = new NotificationWorker({
      db: store.db,
      ratePerSecond: { discord: 10_000 },
      idleMs: 50,
    });
    worker.start();
    await waitUntil("the backlog drained", () => fake.acceptedLog.length >= backlog, {
      timeoutMs: 120_000,
      everyMs: 20,
    });
    const drainMs = fake.stats.accepted[backlog - 1] - started;
    const floorMs = stormMs + (Math.ceil(backlog / limit) - 1) * windowMs;
    const ratio = round(drainMs / floorMs, 3);
    const early = fake.stats.early;
    return [{
      benchmark: name,
      figure: "drain time (worker start to last accepted)",
      unit: "s",
      ours: round(drainMs / 1000, 2),
      peer: round(floorMs / 1000, 2),
      ratio,
      target: "≤ 1.05× floor, never early",
      pass: drainMs >= floorMs * 0.99 && ratio <= 1.05 && early === 0,
      note:
        `floor = ${stormMs} ms storm + ${
          Math.ceil(backlog / limit) - 1
        } windows of ${windowMs} ms; ` +
        `${fake.stats.rateLimited} answered 429, ${early} inside an announced wait; ` +
        `${fake.received.length} requests for ${backlog} messages`,
    }];
  } finally {
    await worker?.stop();
    await store.close();
    await fake.close();
    await database.drop();
  }
}

/** Runs (a) then (b). */
export async function runNotifications(options: NotificationsBenchOptions = {}): Promise<Figure[]> {
  configureLogging({ level: "warn" });
  return [...await runLatency(options), ...await runDrain(options)];
}

if (import.meta.main) {
  console.log(JSON.stringify(await runNotifications(), null, 2));
}
