/**
 * The soak: the real daemon (`main.ts service start` in a subprocess) against the fake Kick and the fake Pusher,
 * with PostgreSQL behind a cuttable proxy, while a seeded random schedule flips streamers online and offline and
 * injects faults. At the end the recorded history is compared with the fake's ground truth (compare.ts).
 *
 * The schedule's rule, which makes every ground-truth transition observable: each state holds for at least
 * 2 poll intervals + the offline grace + 1 s (checked), so a poll always sees it even when Pusher missed it, and
 * it outlasts a restart (1–3 s here). Faults:
 * - Pusher: every socket dropped (no close frame), closed with a 41xx/42xx code, pongs withheld for a while;
 * - Kick's API: a storm of 429s, a run of 5xx, every token expired;
 * - the database unreachable for a while (the proxy cut), never while the daemon is down;
 * - the daemon killed with SIGKILL and restarted at once. Transitions from just before the kill (the offline
 *   grace) until the restarted daemon has reconciled are only seen by that reconciliation, with its time: they
 *   must be recorded, but their time is checked against that window (a "blind window").
 * A fault that blinds one source is injected only while the other sees every streamer (an API fault also waits
 * until a full poll pass has caught up on what Pusher missed while it was down), and a SIGKILL only while both
 * do (see `allowed`): with both blind, a flip and back would be legitimately unobservable.
 *
 * The real Kick's habits (issue 10), each behind its flag and off by default, so a run without them replays as
 * before:
 * - `pollOnlyPercent`: that share of streamers is added without a channel id and their Pusher channel never
 *   delivers (FakePusher.mute), so only the poll sees them. Their flips wait while the API is failing (the poll is
 *   their only source), and an API fault opens a blind window for them alone;
 * - `apiLagSeconds`: the official API answers the world as it was up to that many seconds ago, varying per
 *   channel and answer (FakeKickHabits.lagJitterMs);
 * - `drift`: odd-but-harmless fields on some items (a few channels always, any item now and then), a "drift" fault
 *   moving them to other channels; one streamer is the app owner, with the owner-only fields;
 * - `flicker`: a "flicker" fault makes the next answer about 1–5 streamers show the opposite state, once.
 * The verdict's tolerance is computed from the settings (compare.ts soakTolerance) and printed with the report.
 */
import { join } from "node:path";
import postgres from "postgres";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, type FakeKickHabits, startFakeKick } from "../../src/sim/kick.ts";
import { type FakePusher, startFakePusher } from "../../src/sim/pusher.ts";
import { openStore } from "../../src/store/store.ts";
import { freePort } from "../helpers/cli.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp_proxy.ts";
import {
  type BlindWindow,
  compareHistories,
  type Comparison,
  type SoakTolerance,
  soakTolerance,
} from "./compare.ts";
import { SeededRandom } from "../../src/sim/random.ts";
import {
  compareTitles,
  deliveredTitles,
  runTitleSchedule,
  type TitleComparison,
} from "./titles.ts";
import { simulatedKickEnv } from "../helpers/daemon_env.ts";
import { CONFIRM_AFTER_MS } from "../../src/monitor/sources/poll.ts";
import {
  type FakeWebhookSender,
  generateWebhookSigningKey,
  startFakeWebhookSender,
} from "../../src/sim/webhooks.ts";
import { addTarget } from "../../src/store/notification_targets.ts";
import { type FakeDiscord, startFakeDiscord } from "../fakes/notification_services.ts";
import { compareDeliveries, type DeliveryComparison } from "./deliveries.ts";
import type { InjectedFault, OwnerlessStretch } from "./leases.ts";
import { assertLeaseSchema, type LeaseFigures, LeaseWatch, NEEDS_LEASES } from "./lease_watch.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const SECRET = "soak-client-secret-5d1e8b";

export interface SoakOptions {
  /** How long the schedule runs (flips and faults); settling and checking come on top. */
  durationMs: number;
  seed: number;
  /** A `postgres://` URL of a server where the soak may create and drop a database. */
  databaseUrl: string;
  streamers?: number;
  pollIntervalSeconds?: number;
  offlineGraceSeconds?: number;
  /** Each online or offline state holds for a random time in this range. */
  holdMs?: [number, number];
  /** Time between two faults. */
  faultGapMs?: [number, number];
  /** How long the database stays unreachable. */
  dbOutageMs?: [number, number];
  /** How long pongs are withheld. */
  pongOutageMs?: [number, number];
  /**
   * Share of streamers (0–100) added without a channel id, whose Pusher channel never delivers: only the poll
   * sees them.
   */
  pollOnlyPercent?: number;
  /** The official API lags the truth by up to this many seconds, varying per channel and answer. */
  apiLagSeconds?: number;
  /** Odd-but-harmless fields on some items, changing over time ("drift" faults); an owner's channel. */
  drift?: boolean;
  /** Occasional one-answer flips of the official API ("flicker" faults). */
  flicker?: boolean;
  /**
   * The simulated Kick also delivers signed webhooks to the daemon's receiver (KICK_WEBHOOK_LISTEN), for the
   * streamers the daemon subscribed, dropping, delaying and duplicating some (same and new message id).
   */
  webhooks?: boolean;
  /** A fake Discord target per streamer; the report compares its messages with the recorded events. */
  notify?: boolean;
  /**
   * Live streamers change their title (and now and then their category) during the run (default on; titles.ts):
   * the report counts the `title` events against them, and the status comparison must not notice them.
   */
  titles?: boolean;
  /** The daemon's KICK_API_RATE (default 50 requests per second). */
  apiRatePerSecond?: number;
  /** The daemon's KICK_API_BATCH_SIZE (default 50, Kick's maximum). */
  apiBatchSize?: number;
  /** Keep the temporary directory (daemon logs, journal) even when the soak passes. */
  keepFiles?: boolean;
  /**
   * Several monitors on the one database (2 or more; needs leases, sql/005_leases.sql): each behind its own
   * cuttable proxy, with monitor faults added to the schedule (see {@link INSTANCE_FAULTS}).
   */
  instances?: number;
  /** The monitors' KICK_MONITOR_LEASE_TTL with `instances` (seconds, default 5). */
  leaseTtlSeconds?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface SoakReport {
  seed: number;
  durationMs: number;
  streamers: number;
  /** The Kick habits the run had on. */
  conditions: {
    pollOnly: number;
    apiLagSeconds: number;
    drift: boolean;
    flicker: boolean;
    webhooks: boolean;
    notify: boolean;
    titles: boolean;
  };
  /** With `titles`: the recorded `title` events against the world's retitles (titles.ts). */
  titles?: TitleComparison;
  /** What the verdict allowed, and how it was computed. */
  tolerance: SoakTolerance;
  comparison: Comparison;
  /** With `webhooks`: what the fake sender did (deliveries, not counting those to unsubscribed streamers). */
  webhooks?: {
    sent: number;
    dropped: number;
    duplicates: number;
    accepted: number;
    notAccepted: number;
    /** Events recorded with source `webhook` (first to report). */
    recordedFirst: number;
  };
  /** With `notify`: the fake Discord's messages against the recorded events. */
  notifications?: DeliveryComparison & { early: number; rateLimited: number };
  /** Faults injected, by kind. */
  faults: Record<string, number>;
  /** The daemon exited without being told to (not counting SIGKILLs). */
  unexpectedExits: number;
  /** Exit code of the final SIGTERM stop (0 expected). */
  finalExitCode: number | null;
  peakRssBytes: number;
  maxBacklog: number;
  /** With `instances`: the leases' figures and their bound. */
  leases?: InstanceFigures;
  /** Where the daemon logs are (kept when the soak fails). */
  dir: string;
  ok: boolean;
}

/** What a run with several monitors adds to the report. */
export interface InstanceFigures extends Omit<LeaseFigures, "longestOwnerless"> {
  instances: number;
  ttlSeconds: number;
  /** The longest ownerless stretch, with the streamer's slug. */
  longestOwnerless: (OwnerlessStretch & { slug: string }) | null;
  /** What the longest ownerless stretch may be: the TTL plus one poll interval. */
  boundMs: number;
  /** Sum of kick_monitor_stale_writes_refused_total over every monitor process. */
  staleRefused: number | null;
  /** Monitor names, in the order they first started. */
  names: string[];
}

type FaultKind =
  | "pusher-drop"
  | "pusher-close-41xx"
  | "pusher-close-42xx"
  | "pongs-withheld"
  | "api-429-storm"
  | "api-5xx"
  | "token-expiry"
  | "db-outage"
  | "sigkill"
  | "flicker"
  | "drift"
  | "instance-kill"
  | "instance-cut"
  | "instance-pause"
  | "instance-join";

/**
 * Faults of a run with several monitors (each once per round; the join once per run):
 * - `instance-kill`: SIGKILL one monitor and restart it under the same name and data directory (as systemd would
 *   with KICK_MONITOR_INSTANCE set) only after the TTL and a poll interval, so the others must take over first
 *   and its journal replays under leases it has lost (those writes must be refused);
 * - `instance-cut`: cut one monitor's database proxy for longer than the TTL, then restore it (fencing: what it
 *   journaled meanwhile must not be accepted for streamers now held by another);
 * - `instance-pause`: SIGSTOP one monitor for longer than the TTL, then SIGCONT;
 * - `instance-join`: start one more monitor mid-run (the others hand streamers over to it).
 * The existing `sigkill` kills a random monitor and restarts it at once; `db-outage` cuts every monitor's proxy.
 */
export const INSTANCE_FAULTS: ReadonlySet<string> = new Set([
  "instance-kill",
  "instance-cut",
  "instance-pause",
  "instance-join",
]);

/** Faults that blind the Pusher source for a while. */
const PUSHER_FAULTS: ReadonlySet<FaultKind> = new Set([
  "pusher-drop",
  "pusher-close-41xx",
  "pusher-close-42xx",
  "pongs-withheld",
]);
/** Faults that blind the poll source (the official API) for a while. */
const API_FAULTS: ReadonlySet<FaultKind> = new Set(["api-429-storm", "api-5xx", "token-expiry"]);

const FAULT_KINDS: readonly FaultKind[] = [
  "pusher-drop",
  "pusher-close-41xx",
  "pusher-close-42xx",
  "pongs-withheld",
  "api-429-storm",
  "api-5xx",
  "token-expiry",
  "db-outage",
  "sigkill",
];

/** How long the final SIGTERM may take before the soak kills the daemon and fails. */
const STOP_TIMEOUT_MS = 60_000;

/** With `webhooks`: the share of deliveries lost, sent twice, and the most a delivery is late. */
const WEBHOOK_DROP_RATE = 0.05;
const WEBHOOK_DUPLICATE_RATE = 0.1;
const WEBHOOK_DELAY_MS = 2_000;

/** Drifting channels at a time, with `drift`: this share of the streamers. */
const DRIFT_SHARE = 0.05;
/** With `drift`, the chance that any other item drifts in an answer. */
const DRIFT_RATE = 0.02;

/** Whether streamer `index` is poll-only: `percent` of the streamers are, spread evenly. */
export function isPollOnly(index: number, percent: number): boolean {
  return Math.floor((index + 1) * percent / 100) > Math.floor(index * percent / 100);
}

interface Daemon {
  child: Deno.ChildProcess;
  pid: number;
  exited: Promise<Deno.CommandStatus>;
  /** Set when the harness kills or stops it on purpose. */
  expectedExit: boolean;
}

/** One monitor of the run (one daemon process at a time). */
interface Monitor {
  /** KICK_MONITOR_INSTANCE; null in a single-monitor run (the daemon's default name). */
  name: string | null;
  proxy: TcpProxy;
  httpPort: number;
  env: Record<string, string>;
  daemon: Daemon | null;
  /** Killed (not yet restarted), paused, or cut off from the database: it can record nothing. */
  disabled: boolean;
  /** kick_monitor_stale_writes_refused_total, last read, per process id. */
  staleRefused: Map<number, number>;
}

/**
 * Schedule ranges by length: a short soak (under two minutes, e.g. the 45 s one in `deno task test`) scales the
 * holds, the gaps between faults and the outages down, so it sees as many kinds of fault as fit.
 */
export function profileFor(durationMs: number): {
  holdMs: [number, number];
  faultGapMs: [number, number];
  dbOutageMs: [number, number];
  pongOutageMs: [number, number];
} {
  if (durationMs < 120_000) {
    return {
      holdMs: [8_000, 20_000],
      faultGapMs: [1_500, 3_000],
      dbOutageMs: [2_000, 8_000],
      pongOutageMs: [2_000, 10_000],
    };
  }
  return {
    holdMs: [10_000, 40_000],
    faultGapMs: [3_000, 10_000],
    dbOutageMs: [5_000, 60_000],
    pongOutageMs: [5_000, 40_000],
  };
}

/** Runs one soak and returns its report; throws only when the harness itself cannot run. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const say = options.log ?? (() => {});
  const streamerCount = options.streamers ?? 200;
  const pollSeconds = options.pollIntervalSeconds ?? 3;
  const graceSeconds = options.offlineGraceSeconds ?? 1;
  const profile = profileFor(options.durationMs);
  let [minHold, maxHold] = options.holdMs ?? profile.holdMs;
  const faultGap = options.faultGapMs ?? profile.faultGapMs;
  const dbOutage = options.dbOutageMs ?? profile.dbOutageMs;
  const pongOutage = options.pongOutageMs ?? profile.pongOutageMs;
  const pollOnlyPercent = options.pollOnlyPercent ?? 0;
  const apiLagSeconds = options.apiLagSeconds ?? 0;
  const apiRate = options.apiRatePerSecond ?? 50;
  const apiBatchSize = options.apiBatchSize ?? 50;
  const tolerance = soakTolerance({
    streamers: streamerCount,
    pollIntervalSeconds: pollSeconds,
    apiRatePerSecond: apiRate,
    apiBatchSize,
    apiLagSeconds,
  });
  // The poll sees each streamer every poll interval, or every pass when a pass takes longer; behind the lag. A
  // state must meet two polls (one answer alone may be a flicker, and is not trusted); with flickers, three.
  const pollEveryMs = Math.max(tolerance.pollIntervalMs, tolerance.passMs);
  const instanceCount = options.instances ?? 1;
  const multi = instanceCount > 1;
  const ttlSeconds = options.leaseTtlSeconds ?? 5;
  if (multi) {
    // Checked before anything starts: a build without leases would run a second monitor that refuses to start.
    const migration = new URL("../../sql/005_leases.sql", import.meta.url);
    if (!(await Deno.stat(migration).then(() => true, () => false))) throw new Error(NEEDS_LEASES);
  }
  // With several monitors, a streamer may wait a TTL for a new owner before anyone sees it again. One monitor
  // runs under its default name (hostname-pid): a restart on its data directory takes its leases at once.
  const observableMs = (options.flicker ? 3 : 2) * pollEveryMs + tolerance.apiLagMs +
    (graceSeconds + 1) * 1000 + (multi ? ttlSeconds * 1000 : 0);
  if (options.holdMs !== undefined && minHold < observableMs) {
    throw new Error(
      `A state must hold at least 2 poll intervals or passes (3 with flickers) + the API lag + the grace + 1 s ` +
        `(${observableMs} ms) to be observable; the shortest hold is ${minHold} ms`,
    );
  }
  if (minHold < observableMs) {
    // The profile's holds are too short for these settings: keep the range's width above the minimum.
    maxHold = observableMs + (maxHold - minHold);
    minHold = observableMs;
  }
  // Two streams from the seed, so the flips and the faults do not depend on how their loops interleave.
  const random = new SeededRandom(options.seed);
  const faultRandom = new SeededRandom(options.seed ^ 0x5eed_f00d);

  const admin = postgres(options.databaseUrl, { onnotice: () => {}, max: 1 });
  const database = `kick_soak_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.unsafe(`CREATE DATABASE ${database}`);
  const target = new URL(options.databaseUrl);
  const direct = new URL(options.databaseUrl);
  direct.pathname = `/${database}`;
  /** Each monitor reaches the database through a proxy of its own, so one can be cut off alone. */
  function databaseProxy(): { proxy: TcpProxy; url: string } {
    const proxy = startTcpProxy({ hostname: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(direct);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    return { proxy, url: viaProxy.toString() };
  }
  const check = postgres(direct.toString(), { onnotice: () => {}, max: 2 });

  const world = new FakeWorld({ keepHistory: true });
  const slugs = Array.from(
    { length: streamerCount },
    (_, i) => `soak${String(i).padStart(4, "0")}`,
  );
  for (const slug of slugs) world.addStreamer(slug);
  const pollOnly = new Set(slugs.filter((_, i) => isPollOnly(i, pollOnlyPercent)));
  const pushed = slugs.filter((slug) => !pollOnly.has(slug));
  // The habits draw from their own seeded stream, and so does drift's choice of channels: the flips and the
  // faults replay as without them.
  const habitRandom = new SeededRandom(options.seed ^ 0x4ab1_7500);
  const driftSlugs = () => {
    const picked = slugs.filter(() => habitRandom.next() < DRIFT_SHARE);
    return picked.length > 0 ? picked : [habitRandom.pick(slugs)];
  };
  const habits: FakeKickHabits = {
    seed: options.seed ^ 0x4ab1_75ed,
    lagJitterMs: tolerance.apiLagMs,
    ...(options.drift
      ? { driftRate: DRIFT_RATE, driftSlugs: driftSlugs(), ownerSlug: slugs[0] }
      : {}),
  };
  // With webhooks: a per-run signing key, whose public half the fake Kick serves (/public/v1/public-key).
  const signingKey = options.webhooks ? await generateWebhookSigningKey() : null;
  const kick: FakeKick = await startFakeKick({
    world,
    clientId: "soak-client",
    clientSecret: SECRET,
    habits,
    ...(signingKey === null ? {} : { webhooks: { signingKey } }),
  });
  // A short activity timeout so quiet sockets ping, and withheld pongs can be noticed.
  const pusher: FakePusher = await startFakePusher({ world, activityTimeout: 10 });
  for (const slug of pollOnly) pusher.mute(world.get(slug).channelId);
  const conditions = {
    pollOnly: pollOnly.size,
    apiLagSeconds,
    drift: options.drift ?? false,
    flicker: options.flicker ?? false,
    webhooks: options.webhooks ?? false,
    notify: options.notify ?? false,
    titles: options.titles ?? true,
  };
  // Each habit with a moment of its own is a fault kind of its flag; without the flags the rounds are as before.
  const faultKinds: FaultKind[] = [
    ...FAULT_KINDS,
    ...(conditions.flicker ? ["flicker" as const] : []),
    ...(conditions.drift ? ["drift" as const] : []),
  ];
  const instanceFaultKinds = [...INSTANCE_FAULTS] as FaultKind[];
  const dir = await Deno.makeTempDir({ prefix: "kick-monitor-soak-" });
  const webhookPort = signingKey === null ? null : freePort();
  if (multi && webhookPort !== null) {
    throw new Error("--webhooks is not supported with --instances");
  }
  /**
   * A monitor slot: its proxy, port, data directory and settings. One run has one slot, unnamed (the daemon
   * picks its own name) with its data in `dir/data`, as before; with `instances`, m1, m2, … each in `dir/mN`.
   */
  function newMonitor(name: string | null): Monitor {
    const { proxy, url } = databaseProxy();
    const httpPort = freePort();
    const env = simulatedKickEnv({
      kickUrl: kick.url,
      pusherUrl: pusher.url,
      clientId: "soak-client",
      clientSecret: SECRET,
      dataDir: join(dir, name ?? "data"),
      httpPort,
      databaseUrl: url,
    }, {
      KICK_MONITOR_POLL_INTERVAL: String(pollSeconds),
      KICK_MONITOR_OFFLINE_GRACE: String(graceSeconds),
      KICK_API_RATE: String(apiRate),
      KICK_API_BATCH_SIZE: String(apiBatchSize),
      ...(webhookPort === null ? {} : { KICK_WEBHOOK_LISTEN: `127.0.0.1:${webhookPort}` }),
      ...(name === null
        ? {}
        : { KICK_MONITOR_INSTANCE: name, KICK_MONITOR_LEASE_TTL: String(ttlSeconds) }),
    });
    return { name, proxy, httpPort, env, daemon: null, disabled: false, staleRefused: new Map() };
  }
  const monitors: Monitor[] = multi
    ? Array.from({ length: instanceCount }, (_, i) => newMonitor(`m${i + 1}`))
    : [newMonitor(null)];
  // Kick's delivery faults (kick-api.md §1.9.5), seeded apart from the flips and faults: some deliveries lost,
  // all late by up to WEBHOOK_DELAY_MS, some twice (half of those under a new message id). Kick retries a
  // delivery that was not answered 200 (a restarting daemon), a few times.
  const webhookRandom = new SeededRandom(options.seed ^ 0x0eb0_0c5e);
  const sender: FakeWebhookSender | null = signingKey === null || webhookPort === null
    ? null
    : startFakeWebhookSender({
      world,
      targetUrl: `http://127.0.0.1:${webhookPort}/kick/webhook`,
      privateKey: signingKey.privateKey,
      subscriptions: kick.subscriptions,
      dropRate: WEBHOOK_DROP_RATE,
      duplicateRate: WEBHOOK_DUPLICATE_RATE,
      newIdShare: 0.5,
      delayMs: { min: 0, max: WEBHOOK_DELAY_MS },
      maxAttempts: 3,
      random: () => webhookRandom.next(),
    });
  // A Discord webhook per streamer, roomy enough that its rate limit never holds the soak's check back (the
  // worker still obeys its headers: stats.early counts a request sent inside an announced wait).
  const discord: FakeDiscord | null = options.notify
    ? await startFakeDiscord({ limit: 1000, windowMs: 1000 })
    : null;
  const discordWebhookOf = (slug: string) => String(700_000 + slugs.indexOf(slug));

  const faults: Record<string, number> = {};
  const blindWindows: BlindWindow[] = [];
  const titleBlindWindows: BlindWindow[] = [];
  let unexpectedExits = 0;
  let peakRssBytes = 0;
  let maxBacklog = 0;
  let daemonCount = 0;
  /** With `instances`: each fault as injected, for attributing ownerless stretches. */
  const injected: InjectedFault[] = [];
  /** With `instances`: a monitor fault is under way, or ownership has not settled since the last one. */
  let disturbed = false;
  let finalExitCode: number | null = null;
  let dbCut = false;
  let restarting = false;
  let finished = false;
  const background: Promise<void>[] = [];
  let pongsWithheld = false;
  let pusherFaultAt = 0;
  let pusherHealthySince = 0;
  let apiFaultAt = 0;

  /** Both channels of every streamer Pusher can see are subscribed (poll-only ones may be too, muted). */
  function pushChannelsSubscribed(): boolean {
    return pushed.every((slug) => {
      const id = world.get(slug).channelId;
      return pusher.subscribers(`channel.${id}`) > 0 && pusher.subscribers(`channel_${id}`) > 0;
    });
  }

  /** Pusher sees every streamer again: no pong fault on, every channel subscribed since the last fault. */
  function pusherHealthy(): boolean {
    const healthy = !pongsWithheld && Date.now() - pusherFaultAt > 500 && pushChannelsSubscribed();
    if (healthy && pusherHealthySince <= pusherFaultAt) pusherHealthySince = Date.now();
    return healthy;
  }

  /**
   * Pusher is healthy and the poll has made a full pass since: what Pusher missed while it was down is recorded.
   * Until then the poll is the only source of those changes, so it must not be blinded (found by a run at
   * `--api-rate 1`, where a 429 storm right after a Pusher reconnect hid a 14 s state from both).
   */
  function pusherCaughtUp(): boolean {
    if (!pusherHealthy()) return false;
    let answered = 0;
    for (let i = kick.requests.length - 1; i >= 0; i--) {
      const request = kick.requests[i];
      if (request.time <= pusherHealthySince) return false;
      if (request.route === "channels" && request.status === 200) answered++;
      // Each monitor polls its own share: its last batch may be partial.
      if (answered >= tolerance.passRequests + (multi ? monitors.length : 0)) return true;
    }
    return false;
  }

  /** The poll works again: a channels request answered 200 after the last API fault. */
  function apiHealthy(): boolean {
    for (let i = kick.requests.length - 1; i >= 0; i--) {
      const request = kick.requests[i];
      if (request.time <= apiFaultAt) return false;
      if (request.route === "channels" && request.status === 200) return true;
    }
    return false;
  }

  /**
   * The observability rule: a fault that blinds one source is injected only while the other sees everything,
   * and a restart (both blind) only while both do; database outages and restarts never overlap.
   */
  function allowed(kind: FaultKind): boolean {
    if (restarting || disturbed) return false;
    // With several monitors every fault waits until each streamer has a working owner again (leases.settled).
    if (multi && !leaseWatch!.settledSince(Date.now() - 1_000)) return false;
    if (INSTANCE_FAULTS.has(kind)) return !dbCut && pusherHealthy() && apiHealthy();
    // A lie of the API for one answer, or odd fields: both sources still see everything.
    if (kind === "flicker" || kind === "drift") return true;
    if (PUSHER_FAULTS.has(kind)) return apiHealthy();
    if (API_FAULTS.has(kind)) return pusherCaughtUp();
    if (kind === "db-outage") return !dbCut;
    return !dbCut && pusherHealthy() && apiHealthy();
  }

  function spawnDaemon(monitor: Monitor): Daemon {
    daemonCount++;
    // The daemon writes its log straight to the file (the shell `exec`s it, keeping its pid): a log piped
    // through this process stalled at about 64 KiB in some runs, hiding a daemon's last words.
    const logPath = join(dir, `${monitor.name ?? "daemon"}-${daemonCount}.log`);
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'exec "$@" 2>"$0"',
        logPath,
        Deno.execPath(),
        "run",
        "-A",
        MAIN,
        "service",
        "start",
      ],
      env: monitor.env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const started: Daemon = {
      child,
      pid: child.pid,
      exited: child.status,
      expectedExit: false,
    };
    started.exited.then(async (status) => {
      if (started.expectedExit || finished) return;
      // Crashed or refused to start: count it, and keep the soak going with a fresh daemon.
      const exitedAt = Date.now();
      unexpectedExits++;
      say(
        `daemon ${
          monitor.name ?? ""
        } ${started.pid} exited on its own (code ${status.code}); restarting`,
      );
      if (monitor.daemon !== started) return;
      restarting = true;
      await sleep(1_000);
      if (finished) return;
      monitor.daemon = spawnDaemon(monitor);
      background.push(blindUntilReconciled(monitor, exitedAt));
    });
    return started;
  }

  /**
   * Records the blind window of a restart: from just before `downAt` until the monitor's fresh daemon has
   * reconciled, and with several monitors until ownership has settled again and the owners have polled.
   */
  async function blindUntilReconciled(monitor: Monitor, downAt: number): Promise<void> {
    // A pass asked at least the API lag after the kill: an earlier one may still show the state before a
    // change Pusher reported just before the kill (lost with the kill, in its grace), and nothing would see
    // that change until the next pass (found by the 10-minute run with Kick's habits, a 429 storm right after).
    await waitForReconciliation(monitor, downAt + tolerance.apiLagMs + tolerance.passMs);
    if (multi) await untilSettled();
    blindWindows.push({ from: downAt - (graceSeconds + 1) * 1000, until: Date.now() + 1_000 });
    // What only the poll sees may have been due for detection by a poll the kill prevented, or seen once and
    // not yet confirmed by a second answer (status_machine.ts rule 3): the kill forgets that sighting.
    if (pollOnly.size > 0) {
      blindWindows.push({
        from: downAt - tolerance.pollLateMs - CONFIRM_AFTER_MS,
        until: Date.now() + 1_000,
        slugs: pollOnly,
      });
    }
    restarting = false;
  }

  /**
   * An API fault blinds the poll-only streamers (their flips wait meanwhile): a change due for detection around
   * it is seen by the first pass after the API answers again, with that pass's time.
   */
  async function blindPollOnlyUntilApiAnswers(faultAt: number): Promise<void> {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !finished && !apiHealthy()) await sleep(250);
    blindWindows.push({
      from: faultAt - tolerance.pollLateMs,
      until: Date.now() + tolerance.pollLateMs,
      slugs: pollOnly,
    });
  }

  /** An API fault blinds the title changes a webhook did not report (titles.ts): until the API answers. */
  async function blindTitlesUntilApiAnswers(faultAt: number): Promise<void> {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !finished && !apiHealthy()) await sleep(250);
    titleBlindWindows.push({ from: faultAt - tolerance.pollLateMs, until: Date.now() + 1_000 });
  }

  /**
   * With several monitors: waits until every streamer has a working owner and no handover is pending, then one
   * poll interval (plus a pass, the lag and the confirmation of a contradicting answer) for the new owners to
   * have looked; a change in between is seen by that look, with its time.
   */
  async function untilSettled(): Promise<void> {
    const deadline = Date.now() + 120_000;
    const since = Date.now();
    while (Date.now() < deadline && !finished && !leaseWatch!.settledSince(since)) await sleep(250);
    await sleep(tolerance.pollLateMs + CONFIRM_AFTER_MS);
  }

  /**
   * A monitor fault's blind window, from just before it until ownership has settled again after `over`
   * (the fault's end) and the owners have looked; the schedule waits meanwhile.
   */
  async function blindUntilSettled(faultAt: number, over: Promise<void>): Promise<void> {
    await over;
    await untilSettled();
    blindWindows.push({ from: faultAt - (graceSeconds + 1) * 1000, until: Date.now() + 1_000 });
    if (pollOnly.size > 0) {
      blindWindows.push({
        from: faultAt - tolerance.pollLateMs - CONFIRM_AFTER_MS,
        until: Date.now() + 1_000,
        slugs: pollOnly,
      });
    }
    disturbed = false;
  }

  /** A monitor with a daemon running and able to record, chosen by the fault stream. */
  function pickRunning(): Monitor {
    const running = monitors.filter((m) => m.daemon !== null && !m.disabled);
    return faultRandom.pick(running);
  }

  /**
   * Injects one monitor fault (see {@link INSTANCE_FAULTS}); resolves when it is over: the monitor is back (or
   * the new one has reconciled once). Each outage lasts longer than the TTL, so its leases lapse.
   */
  async function monitorFault(kind: FaultKind): Promise<void> {
    const at = Date.now();
    const outageMs = ttlSeconds * 1000 + faultRandom.int(2_000, 5_000);
    if (kind === "instance-join") {
      const joiner = newMonitor(`m${monitors.length + 1}`);
      monitors.push(joiner);
      injected[injected.length - 1].instance = joiner.name!;
      say(`  ${joiner.name} joins`);
      joiner.daemon = spawnDaemon(joiner);
      await waitForReconciliation(joiner, at);
      return;
    }
    const monitor = pickRunning();
    const daemon = monitor.daemon!;
    injected[injected.length - 1].instance = monitor.name!;
    monitor.disabled = true;
    if (kind === "instance-kill") {
      // Restarted only after the others must have taken over: the TTL and a poll interval.
      const downMs = (ttlSeconds + pollSeconds) * 1000;
      say(`  ${monitor.name} killed; back in ${downMs / 1000} s under the same name`);
      daemon.expectedExit = true;
      peakRssBytes = Math.max(peakRssBytes, await peakRssOf(daemon.pid));
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      monitor.daemon = null;
      await sleep(downMs);
      if (finished) return;
      monitor.daemon = spawnDaemon(monitor);
      await waitForReconciliation(monitor, at);
    } else if (kind === "instance-cut") {
      say(`  ${monitor.name} cut off from the database for ${outageMs} ms`);
      monitor.proxy.cut();
      await sleep(outageMs);
      monitor.proxy.restore();
    } else {
      say(`  ${monitor.name} paused (SIGSTOP) for ${outageMs} ms`);
      daemon.child.kill("SIGSTOP");
      await sleep(outageMs);
      daemon.child.kill("SIGCONT");
    }
    monitor.disabled = false;
  }

  /**
   * Waits (up to 60 s) until the monitor's daemon reports a poll completed after `since`. With several monitors,
   * until it answers at all: a fresh one may own nothing yet and so poll nothing, and what it claims it holds
   * (the blind window waits for ownership to settle and the owners to look, see {@link untilSettled}).
   */
  async function waitForReconciliation(monitor: Monitor, since: number): Promise<void> {
    const fresh = monitor.daemon;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && monitor.daemon === fresh && !finished) {
      if (multi ? await answers(monitor.httpPort) : await lastPollAfter(monitor.httpPort, since)) {
        break;
      }
      await sleep(200);
    }
    monitor.disabled = false;
  }

  /** The journal backlog of one monitor (null when it does not answer), and its refused stale writes. */
  async function scrapeMetrics(monitor: Monitor): Promise<number | null> {
    const daemon = monitor.daemon;
    try {
      const response = await fetch(`http://127.0.0.1:${monitor.httpPort}/metrics`, {
        signal: AbortSignal.timeout(2_000),
      });
      const text = await response.text();
      const refused = /^kick_monitor_stale_writes_refused_total(?:\{[^}]*\})? (\d+)/m.exec(text);
      if (refused !== null && daemon !== null) {
        monitor.staleRefused.set(daemon.pid, Number(refused[1]));
      }
      const match = /^kick_monitor_journal_backlog (\d+)/m.exec(text);
      return match === null ? null : Number(match[1]);
    } catch {
      return null;
    }
  }

  async function peakRssOf(pid: number): Promise<number> {
    try {
      const status = await Deno.readTextFile(`/proc/${pid}/status`);
      const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
      return match === null ? 0 : Number(match[1]) * 1024;
    } catch {
      return 0;
    }
  }

  /** The journal backlog over every running monitor; null when one does not answer (paused, cut, starting). */
  async function sample(): Promise<number | null> {
    let total: number | null = 0;
    for (const monitor of monitors) {
      if (monitor.daemon === null) continue;
      peakRssBytes = Math.max(peakRssBytes, await peakRssOf(monitor.daemon.pid));
      const backlog = await scrapeMetrics(monitor);
      if (backlog !== null) maxBacklog = Math.max(maxBacklog, backlog);
      total = backlog === null || total === null ? null : total + backlog;
    }
    return total;
  }

  async function waitUntil(what: string, test: () => Promise<boolean>, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    while (!(await test())) {
      if (Date.now() > deadline) {
        throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
      }
      await sleep(200);
    }
  }

  /** With `instances`: the leases, sampled straight from the database. */
  const leaseWatch = multi
    ? new LeaseWatch(check, {
      disabled: () => new Set(monitors.filter((m) => m.disabled).map((m) => m.name!)),
      clipped: () => dbCut,
    })
    : null;
  const stopSampling = new AbortController();
  const sampling = (async () => {
    while (!stopSampling.signal.aborted) {
      await sample();
      await sleep(500);
    }
  })();

  let passed = false;
  try {
    const store = await openStore({ databaseUrl: direct.toString() });
    try {
      await store.migrate();
      await store.addStreamers(slugs.map((slug) => {
        const s = world.get(slug);
        // Poll-only streamers as `streamers add` leaves them when no channel id could be learned.
        const known = !pollOnly.has(slug);
        return {
          slug,
          broadcasterUserId: s.broadcasterUserId,
          channelId: known ? s.channelId : null,
          chatroomId: known ? s.chatroomId : null,
        };
      }));
      if (discord !== null) {
        // One Discord target per streamer, through the store API, before the daemon starts.
        const ids = await check<{ id: string; slug: string }[]>`SELECT id, slug FROM streamers`;
        for (const { id, slug } of ids) {
          const webhookId = discordWebhookOf(slug);
          const token = `soak-discord-token-${webhookId}_ABCDEFGHIJKLMNOP`;
          discord.addWebhook(webhookId, token);
          await addTarget(store.db, {
            name: `discord-${slug}`,
            kind: "discord",
            url: discord.webhookUrl(webhookId, token),
            streamerIds: [Number(id)],
            events: ["online", "offline"],
            mention: null,
            templateOnline: null,
            templateOffline: null,
            quietHours: null,
            timezone: null,
            secret: null,
          });
        }
      }
    } finally {
      await store.close();
    }
    if (leaseWatch !== null) {
      await assertLeaseSchema(check);
      leaseWatch.start();
    }
    // Half start live: the daemon's first poll records them as its baseline (a status, not an event).
    for (const slug of slugs) if (random.next() < 0.5) world.goLive(slug);
    // They were live before the monitor started: with a lagging API, wait until even the most lagged answer
    // shows it, or the baseline would be the API's stale "offline" (not a fault of the monitor's).
    if (tolerance.apiLagMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, tolerance.apiLagMs + 500));
    }

    say(
      `seed ${options.seed}: ${streamerCount} streamers, poll ${pollSeconds} s, grace ${graceSeconds} s, ` +
        `${describeConditions(conditions)}`,
    );
    for (const monitor of monitors) monitor.daemon = spawnDaemon(monitor);
    await waitUntil("the daemon's baseline of every streamer", async () => {
      const [row] = await check`SELECT count(*)::int AS n FROM streamers WHERE status <> 'unknown'`;
      return row.n === streamerCount;
    }, 60_000);
    if (leaseWatch !== null) {
      const since = Date.now();
      await waitUntil(
        "every streamer owned by a monitor",
        () => Promise.resolve(leaseWatch.settledSince(since)),
        120_000,
      );
      leaseWatch.startTracking();
    }
    await waitUntil(
      "every channel subscribed",
      () => Promise.resolve(pushChannelsSubscribed()),
      60_000,
    );
    if (sender !== null) {
      // The daemon keeps the subscriptions itself (two events per streamer).
      await waitUntil(
        "every streamer subscribed to webhooks",
        () => Promise.resolve(kick.subscriptions.subscriptions.length >= 2 * streamerCount),
        60_000,
      );
    }
    const historyStart = world.history.length;
    const titleHistoryStart = world.titleHistory.length;
    const startedAt = Date.now();
    const endAt = startedAt + options.durationMs;
    say(`baseline recorded; running the schedule for ${Math.round(options.durationMs / 1000)} s`);

    // ---- the flip schedule -------------------------------------------------------------------------------------
    const nextFlip = new Map(slugs.map((slug) => [slug, startedAt + random.int(0, maxHold)]));
    // When the API last came back from a fault (0: it never failed).
    let apiBackAt = 0;
    let apiWasHealthy = true;
    const flipping = (async () => {
      while (Date.now() < endAt) {
        const now = Date.now();
        const healthy = apiHealthy();
        if (healthy && !apiWasHealthy) apiBackAt = now;
        apiWasHealthy = healthy;
        // The poll is the poll-only streamers' one source: while it fails, they hold their state, and for as
        // long again as a state must hold to be seen once it answers (a change made just before the fault may
        // have been seen once and not confirmed; flipped back at once, it was never observable: the 10-minute
        // run with Kick's habits found such pairs around 429 storms).
        const holdPollOnly = pollOnly.size > 0 && (!healthy || now < apiBackAt + observableMs);
        for (const slug of slugs) {
          if (nextFlip.get(slug)! > now) continue;
          if (holdPollOnly && pollOnly.has(slug)) continue;
          if (world.get(slug).live) world.goOffline(slug);
          else world.goLive(slug, { title: `${slug} stream` });
          nextFlip.set(slug, now + random.int(minHold, maxHold));
        }
        await sleep(50);
      }
    })();

    // ---- the fault schedule ------------------------------------------------------------------------------------
    const faulting = (async () => {
      // No fault in the last stretch: the settle phase below checks a quiet system.
      // Every kind once per round, in a seeded order; a kind the observability rule holds back waits its turn.
      let round: FaultKind[] = [];
      while (Date.now() + faultGap[1] < endAt) {
        await sleep(faultRandom.int(faultGap[0], faultGap[1]));
        if (round.length === 0) {
          round = multi
            ? interleave(instanceFaultKinds, faultKinds, faultRandom)
            : shuffle(faultKinds, faultRandom);
        }
        const waitUntil = Date.now() + 10_000;
        while (!allowed(round[0]) && Date.now() < waitUntil && Date.now() + faultGap[1] < endAt) {
          await sleep(250);
        }
        const kind = round.shift()!;
        // One monitor joins per run.
        if (kind === "instance-join" && faults[kind] !== undefined) continue;
        if (!allowed(kind)) {
          round.push(kind);
          continue;
        }
        if (PUSHER_FAULTS.has(kind)) pusherFaultAt = Date.now();
        if (API_FAULTS.has(kind)) {
          apiFaultAt = Date.now();
          if (pollOnly.size > 0) background.push(blindPollOnlyUntilApiAnswers(apiFaultAt));
          // Pusher carries no title changes: while the API fails, a lost webhook's change waits for it.
          if (conditions.titles) background.push(blindTitlesUntilApiAnswers(apiFaultAt));
        }
        faults[kind] = (faults[kind] ?? 0) + 1;
        injected.push({ kind, at: Date.now() });
        say(`fault: ${kind}`);
        switch (kind) {
          case "pusher-drop":
            pusher.dropAll();
            break;
          case "pusher-close-41xx":
            pusher.closeAll(faultRandom.pick([4100, 4101, 4199]), "Over capacity");
            break;
          case "pusher-close-42xx":
            pusher.closeAll(faultRandom.pick([4200, 4201, 4202]), "Generic reconnect immediately");
            break;
          case "pongs-withheld": {
            const ms = faultRandom.int(pongOutage[0], pongOutage[1]);
            pusher.withholdPongs(true);
            pongsWithheld = true;
            background.push(
              sleep(ms).then(() => {
                pusher.withholdPongs(false);
                pongsWithheld = false;
              }),
            );
            break;
          }
          case "api-429-storm": {
            const times = faultRandom.int(5, 30);
            const retryAfter = faultRandom.next() < 0.5 ? String(faultRandom.int(1, 3)) : undefined;
            kick.injectFault("any", { kind: "status", status: 429, retryAfter }, times);
            break;
          }
          case "api-5xx":
            kick.injectFault(
              "channels",
              { kind: "status", status: faultRandom.pick([500, 502, 503, 504]) },
              faultRandom.int(2, 10),
            );
            break;
          case "token-expiry":
            kick.expireTokens();
            break;
          case "db-outage": {
            // With several monitors every lease lapses in a long cut; up to three TTLs keeps it a fault, not the run.
            const range = multi && options.dbOutageMs === undefined
              ? [2_000, 3 * ttlSeconds * 1000]
              : dbOutage;
            const ms = faultRandom.int(range[0], range[1]);
            dbCut = true;
            for (const monitor of monitors) monitor.proxy.cut();
            const over = sleep(ms).then(() => {
              for (const monitor of monitors) monitor.proxy.restore();
              dbCut = false;
            });
            background.push(over);
            if (multi) {
              // Every lease may lapse meanwhile: streamers can change hands when the database is back.
              disturbed = true;
              background.push(blindUntilSettled(Date.now(), over));
            }
            break;
          }
          case "flicker": {
            // Distinct streamers: one picked twice would get two flickered answers in a row, which is no
            // longer Kick's one-answer flicker but a change that held two polls (the 10-minute run with
            // Kick's habits recorded soak0085's as a false offline and online).
            const flickered = new Set<string>();
            for (let n = faultRandom.int(1, 5); n > 0; n--) flickered.add(faultRandom.pick(slugs));
            for (const slug of flickered) kick.injectQuirk(slug, "flicker");
            break;
          }
          case "drift":
            kick.setHabits({ ...habits, driftSlugs: driftSlugs() });
            break;
          case "sigkill": {
            restarting = true;
            const killedAt = Date.now();
            const monitor = multi ? pickRunning() : monitors[0];
            const victim = monitor.daemon!;
            monitor.disabled = true;
            victim.expectedExit = true;
            peakRssBytes = Math.max(peakRssBytes, await peakRssOf(victim.pid));
            victim.child.kill("SIGKILL");
            await victim.exited;
            monitor.daemon = spawnDaemon(monitor);
            // Blind until the fresh daemon has reconciled once (its last_poll_at is after the kill).
            background.push(blindUntilReconciled(monitor, killedAt));
            break;
          }
          case "instance-kill":
          case "instance-cut":
          case "instance-pause":
          case "instance-join":
            disturbed = true;
            background.push(blindUntilSettled(Date.now(), monitorFault(kind)));
            break;
        }
      }
    })();

    // Retitles draw from their own random stream: a seed's flips and faults are what they were without them.
    const titling = !conditions.titles ? Promise.resolve() : runTitleSchedule(world, slugs, {
      random: new SeededRandom(options.seed ^ 0x717e_5eed),
      endAt,
      everyMs: Math.max(100, (minHold + maxHold) / Math.max(1, slugs.length)),
      sleep,
    });
    await Promise.all([flipping, faulting, titling]);
    while (background.length > 0) await Promise.all(background.splice(0));
    kick.clearFaults();
    pusher.withholdPongs(false);
    for (const monitor of monitors) monitor.proxy.restore();
    dbCut = false;
    say("schedule done; letting the daemon settle");

    // ---- settle: the last states held long enough to be polled, and everything written -------------------------
    await sleep((2 * pollSeconds + graceSeconds) * 1000 + 3_000);
    say("waiting for an empty journal backlog");
    await waitUntil("an empty journal backlog", async () => (await sample()) === 0, 120_000);
    await sender?.settled();
    if (discord !== null) {
      say("waiting for every notification to be sent");
      try {
        await waitUntil("no pending notification", async () => {
          const [row] = await check`
            SELECT count(*)::int AS n FROM notification_deliveries WHERE state = 'pending'`;
          return row.n === 0;
        }, 120_000);
      } catch {
        // Reported, not thrown: what never arrived counts as missing in the verdict below.
        say("notifications still pending after 120 s; they count as missing");
      }
    }
    await sleep(1_000);
    // Stopping monitors releases leases: ownership is judged up to here.
    await leaseWatch?.stop();

    // ---- stop gracefully ---------------------------------------------------------------------------------------
    say(
      multi
        ? `stopping the ${monitors.length} monitors (SIGTERM)`
        : "stopping the daemon (SIGTERM)",
    );
    finished = true;
    const codes = await Promise.all(monitors.map(async (monitor) => {
      const last = monitor.daemon!;
      last.expectedExit = true;
      last.child.kill("SIGTERM");
      const stoppedIn = await Promise.race([last.exited, sleep(STOP_TIMEOUT_MS).then(() => null)]);
      monitor.daemon = null;
      if (stoppedIn !== null) return stoppedIn.code;
      // A daemon that ignores SIGTERM fails the soak (no exit code), and must not hang it.
      say(`the daemon did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM; killing it`);
      last.child.kill("SIGKILL");
      await last.exited;
      return null;
    }));
    finalExitCode = codes.includes(null) ? null : codes.find((code) => code !== 0) ?? 0;

    // ---- compare -----------------------------------------------------------------------------------------------
    const truth = world.history.slice(historyStart).map((h) => ({
      slug: h.slug,
      type: h.type,
      at: h.at.getTime(),
    }));
    const rows = await check<
      {
        id: string;
        slug: string;
        type: "online" | "offline";
        at: Date;
        source: "pusher" | "poll" | "webhook";
      }[]
    >`
      SELECT e.id, s.slug, e.type, e.occurred_at AS at, e.source
        FROM status_events e JOIN streamers s ON s.id = e.streamer_id
       WHERE e.type IN ('online', 'offline')
       ORDER BY e.id`;
    const recorded = rows.map((r) => ({
      id: Number(r.id),
      slug: r.slug,
      type: r.type,
      at: r.at.getTime(),
      source: r.source,
    }));
    if (leaseWatch !== null) {
      // A streamer that changed hands outside a fault (a handover, a lapse under load) is seen by its new owner's
      // look: from a TTL before the claim was seen (the old owner may have stopped then) until that look.
      const slugById = new Map(
        (await check<{ id: string; slug: string }[]>`SELECT id, slug FROM streamers`).map((r) => [
          Number(r.id),
          r.slug,
        ]),
      );
      for (const change of leaseWatch.ownerChanges()) {
        blindWindows.push({
          from: change.seenAt - (ttlSeconds + graceSeconds + 1) * 1000,
          until: change.seenAt + tolerance.pollLateMs + CONFIRM_AFTER_MS + 1_000,
          slugs: new Set([slugById.get(change.streamerId) ?? ""]),
        });
      }
    }
    const comparison = compareHistories(truth, recorded, { tolerance, blindWindows });
    let titles: TitleComparison | undefined;
    if (conditions.titles) {
      const titleRows = await check<
        { slug: string; title: string | null; at: Date; source: string }[]
      >`
        SELECT s.slug, e.title, e.occurred_at AS at, e.source
          FROM status_events e JOIN streamers s ON s.id = e.streamer_id
         WHERE e.type = 'title'
         ORDER BY e.id`;
      const onlineRows = await check<{ slug: string; title: string | null }[]>`
        SELECT s.slug, e.title FROM status_events e JOIN streamers s ON s.id = e.streamer_id
         WHERE e.type = 'online'`;
      titles = compareTitles(
        {
          titles: world.titleHistory.slice(titleHistoryStart),
          statuses: world.history.slice(historyStart),
        },
        titleRows.map((r) => ({ ...r, at: r.at.getTime() })),
        {
          observableMs,
          endAt,
          blindWindows: [
            ...blindWindows.filter((w) => w.slugs === undefined),
            ...titleBlindWindows,
          ],
          carriedByOnline: new Set(onlineRows.map((r) => `${r.slug}\n${r.title}`)),
          delivered: sender === null
            ? new Set()
            : deliveredTitles(world.titleHistory.slice(titleHistoryStart), sender.deliveries),
        },
      );
    }
    const webhooks = sender === null ? undefined : webhookFigures(sender, recorded);
    let notifications: SoakReport["notifications"];
    if (discord !== null) {
      const events = [...recorded].sort((a, b) => a.at - b.at || a.id - b.id);
      notifications = {
        ...compareDeliveries(events, discord.stats.succeeded, discordWebhookOf),
        early: discord.stats.early,
        rateLimited: discord.stats.rateLimited,
      };
    }
    let leases: InstanceFigures | undefined;
    if (leaseWatch !== null) {
      const figures = await leaseWatch.figures(injected);
      const longest = figures.longestOwnerless;
      const slugOf = new Map(
        (await check<{ id: string; slug: string }[]>`SELECT id, slug FROM streamers`).map((
          r,
        ) => [Number(r.id), r.slug]),
      );
      const refused = monitors.flatMap((m) => [...m.staleRefused.values()]);
      leases = {
        ...figures,
        longestOwnerless: longest === null
          ? null
          : { ...longest, slug: slugOf.get(longest.streamerId) ?? String(longest.streamerId) },
        instances: instanceCount,
        ttlSeconds,
        boundMs: (ttlSeconds + pollSeconds) * 1000,
        staleRefused: refused.length === 0 ? null : refused.reduce((a, b) => a + b, 0),
        names: monitors.map((m) => m.name!),
      };
    }
    passed = comparison.missing === 0 && comparison.duplicated === 0 &&
      comparison.falseTransitions === 0 && comparison.outOfOrder === 0 &&
      comparison.wrongTime === 0 && unexpectedExits === 0 && finalExitCode === 0 &&
      (titles === undefined ||
        (titles.missing === 0 && titles.duplicated === 0 && titles.falseChanges === 0)) &&
      (notifications === undefined ||
        (notifications.missing === 0 && notifications.duplicated === 0 &&
          notifications.unexpected === 0 && notifications.early === 0)) &&
      (leases === undefined || leasesPass(leases));
    return {
      seed: options.seed,
      durationMs: options.durationMs,
      streamers: streamerCount,
      conditions,
      tolerance,
      comparison,
      titles,
      webhooks,
      notifications,
      faults,
      unexpectedExits,
      finalExitCode,
      peakRssBytes,
      maxBacklog,
      leases,
      dir,
      ok: passed,
    };
  } catch (error) {
    // The run could not finish (e.g. the daemon never recorded its baseline): say where its logs are.
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}; daemon logs kept in ${dir}`, { cause: error });
  } finally {
    finished = true;
    stopSampling.abort();
    await sampling;
    await leaseWatch?.stop();
    for (const monitor of monitors) {
      const d = monitor.daemon;
      if (d === null) continue;
      d.expectedExit = true;
      try {
        d.child.kill("SIGKILL");
      } catch { /* already gone */ }
      await d.exited;
    }
    await sender?.close();
    await discord?.close();
    await check.end();
    for (const monitor of monitors) await monitor.proxy.close();
    await pusher.close();
    await kick.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    if (passed && !options.keepFiles) await Deno.remove(dir, { recursive: true });
  }
}

/** The lease verdict: no stale write accepted, every write attributed, no streamer ownerless past the bound. */
export function leasesPass(leases: InstanceFigures): boolean {
  return leases.staleAccepted.length === 0 && leases.attributed === leases.recorded &&
    (leases.longestOwnerless === null || leases.longestOwnerless.ms <= leases.boundMs);
}

/** Whether a daemon answers /healthz at all (healthy or not). */
async function answers(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** Whether the daemon answers /healthz with a poll completed after `since` (ms). */
async function lastPollAfter(port: number, since: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(5_000),
    });
    const report = await response.json() as { last_poll_at?: string | null };
    return typeof report.last_poll_at === "string" && Date.parse(report.last_poll_at) > since;
  } catch {
    return false;
  }
}

/** What the fake webhook sender did, and how many recorded events a webhook reported first. */
function webhookFigures(
  sender: FakeWebhookSender,
  recorded: { source: string }[],
): NonNullable<SoakReport["webhooks"]> {
  const subscribed = sender.deliveries.filter((d) => d.error !== "not subscribed");
  return {
    sent: subscribed.filter((d) => !d.dropped).length,
    dropped: subscribed.filter((d) => d.dropped).length,
    duplicates: subscribed.filter((d) => d.duplicateOf !== null).length,
    accepted: subscribed.filter((d) => d.status === 200).length,
    notAccepted: subscribed.filter((d) => !d.dropped && d.status !== 200).length,
    recordedFirst: recorded.filter((r) => r.source === "webhook").length,
  };
}

/** The Kick habits of a run, in words. */
function describeConditions(c: SoakReport["conditions"]): string {
  const parts: string[] = [];
  if (c.pollOnly > 0) {
    parts.push(`${c.pollOnly} streamers poll-only (no channel id, Pusher silent)`);
  }
  if (c.apiLagSeconds > 0) parts.push(`API lag up to ${c.apiLagSeconds} s`);
  if (c.drift) parts.push("drifting fields");
  if (c.flicker) parts.push("flickers");
  if (c.webhooks) parts.push("webhooks (some dropped, late, doubled)");
  if (c.notify) parts.push("a Discord target per streamer");
  if (c.titles) parts.push("title changes");
  return parts.length === 0 ? "consistent" : parts.join(", ");
}

/** The flags that replay a run's conditions (beyond the seed and the duration). */
function replayFlags(report: SoakReport): string {
  const c = report.conditions;
  let flags = "";
  if (report.streamers !== 200) flags += ` --streamers ${report.streamers}`;
  if (report.tolerance.apiRatePerSecond !== 50) {
    flags += ` --api-rate ${report.tolerance.apiRatePerSecond}`;
  }
  if (c.pollOnly > 0) flags += ` --poll-only ${Math.round(c.pollOnly / report.streamers * 100)}`;
  if (c.apiLagSeconds > 0) flags += ` --api-lag ${c.apiLagSeconds}`;
  if (c.drift) flags += " --drift";
  if (c.flicker) flags += " --flicker";
  if (c.webhooks) flags += " --webhooks";
  if (c.notify) flags += " --notify";
  if (!c.titles) flags += " --no-titles";
  const leases = report.leases;
  if (leases !== undefined) {
    flags += ` --instances ${leases.instances}`;
  }
  if (leases !== undefined && leases.ttlSeconds !== 5) flags += ` --lease-ttl ${leases.ttlSeconds}`;
  const defaultPollMs = leases === undefined ? 3_000 : 10_000;
  if (report.tolerance.pollIntervalMs !== defaultPollMs) {
    flags += ` --poll ${report.tolerance.pollIntervalMs / 1000}`;
  }
  return flags;
}

/**
 * One round with several monitors: the monitor faults in a seeded order, each followed by one of the others
 * (also shuffled), so the monitor faults come early enough to fit a short run.
 */
function interleave<T>(first: readonly T[], second: readonly T[], random: SeededRandom): T[] {
  const a = shuffle(first, random);
  const b = shuffle(second, random);
  const out: T[] = [];
  while (a.length > 0 || b.length > 0) {
    if (a.length > 0) out.push(a.shift()!);
    if (b.length > 0) out.push(b.shift()!);
  }
  return out;
}

/** A seeded permutation of `items`. */
function shuffle<T>(items: readonly T[], random: SeededRandom): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The lease lines of a run with several monitors. */
function formatLeases(leases: InstanceFigures): string[] {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const longest = leases.longestOwnerless;
  const cause = longest?.fault
    ? `after ${longest.fault.kind}${
      longest.fault.instance ? ` of ${longest.fault.instance}` : ""
    } at ${new Date(longest.fault.at).toISOString().slice(11, 19)}`
    : "no fault before it";
  const lines = [
    `monitors:                ${leases.names.length} (${
      leases.names.join(", ")
    }), lease TTL ${leases.ttlSeconds} s`,
    `lease claims:            ${leases.claims}`,
    `events attributed:       ${leases.attributed} of ${leases.recorded} carry the writer's instance and epoch`,
    `stale writes accepted:   ${leases.staleAccepted.length}`,
    `stale writes refused:    ${
      leases.staleRefused ?? "n/a (no monitor exposed kick_monitor_stale_writes_refused_total)"
    }`,
    `longest ownerless:       ${
      longest === null
        ? "0 s (never)"
        : `${seconds(longest.ms)} (${longest.slug} from ${
          new Date(longest.from).toISOString().slice(11, 19)
        }, ${cause})`
    }; bound TTL + poll interval = ${seconds(leases.boundMs)}`,
  ];
  for (const stale of leases.staleAccepted.slice(0, 10)) {
    lines.push(
      `  stale event ${stale.eventId} (streamer ${stale.streamerId}, ${stale.instance} epoch ${stale.epoch}): ` +
        `${stale.reason}, ${stale.detail}`,
    );
  }
  return lines;
}

/** The report as the lines `deno task soak` prints. */
export function formatReport(report: SoakReport): string[] {
  const c = report.comparison;
  const faults = Object.entries(report.faults).sort().map(([k, v]) => `${k}=${v}`).join(" ");
  const t = report.tolerance;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `seed:                    ${report.seed}  (replay: deno task soak --seed ${report.seed} --duration ${
      Math.round(report.durationMs / 1000)
    }s${replayFlags(report)})`,
    `duration:                ${
      Math.round(report.durationMs / 1000)
    } s, ${report.streamers} streamers`,
    `kick:                    ${describeConditions(report.conditions)}`,
    `faults:                  ${faults || "none"}`,
    `tolerance:               online and offline by push ±${seconds(t.exactMs)}; offline by poll ` +
    `-${seconds(t.pollEarlyMs)} to +${seconds(t.pollLateMs)} (poll ${
      seconds(t.pollIntervalMs)
    } + ` +
    `pass ${seconds(t.passMs)} [${t.passRequests} requests at ${t.apiRatePerSecond}/s] + ` +
    `API lag ${seconds(t.apiLagMs)} + ` +
    `slack ${seconds(t.slackMs)})`,
    `transitions expected:    ${c.expected}`,
    `transitions recorded:    ${c.recorded}`,
    `missing:                 ${c.missing}`,
    `duplicated:              ${c.duplicated}`,
    `false:                   ${c.falseTransitions}`,
    `out of order:            ${c.outOfOrder}`,
    `wrong time:              ${c.wrongTime}  (max offset outside blind windows: online ${c.maxOffsetMs.online} ms, ` +
    `offline by push ${c.maxOffsetMs.offlinePush} ms, by poll ${c.maxOffsetMs.offlinePoll} ms)`,
    `peak RSS of the daemon:  ${(report.peakRssBytes / 1024 / 1024).toFixed(1)} MiB`,
    `max journal backlog:     ${report.maxBacklog}`,
    `unexpected daemon exits: ${report.unexpectedExits}`,
    `final SIGTERM exit code: ${report.finalExitCode}`,
  ];
  const w = report.webhooks;
  if (w !== undefined) {
    lines.push(
      `webhooks:                ${w.sent} sent (${w.dropped} dropped, ${w.duplicates} duplicates), ` +
        `${w.accepted} answered 200, ${w.notAccepted} not; ${w.recordedFirst} events first seen by one`,
    );
  }
  const titles = report.titles;
  if (titles !== undefined) {
    lines.push(
      `title changes:           ${titles.changes} (${titles.observable} observable); ` +
        `${titles.recorded} recorded (${titles.recordedByWebhook} by webhook); ` +
        `missing ${titles.missing}, duplicated ${titles.duplicated}, false ${titles.falseChanges}`,
    );
    for (const example of titles.examples) lines.push(`  ${example}`);
  }
  const n = report.notifications;
  if (n !== undefined) {
    lines.push(
      `deliveries expected:     ${n.expected}`,
      `deliveries delivered:    ${n.delivered}`,
      `deliveries duplicated:   ${n.duplicated}`,
      `deliveries missing:      ${n.missing}`,
      `deliveries unexpected:   ${n.unexpected}`,
      `discord early requests:  ${n.early}  (429s answered: ${n.rateLimited})`,
    );
    for (const example of n.examples) lines.push(`  ${example}`);
  }
  if (report.leases !== undefined) lines.push(...formatLeases(report.leases));
  for (const d of c.examples) {
    lines.push(`  ${d.kind} ${d.slug} ${d.type} at ${d.at}${d.detail ? ` (${d.detail})` : ""}`);
  }
  if (!report.ok) lines.push(`daemon logs kept in ${report.dir}`);
  lines.push(report.ok ? "PASS" : "FAIL");
  return lines;
}
