/**
 * `demo`: the whole product against the simulated Kick (OAuth, official API, legacy API and Pusher, all carried
 * by the binary), on a temporary embedded database, with no credentials and no network. Streamers go live and
 * offline on a script; each transition is printed as the database commits it, until Ctrl-C.
 *
 * All three sources run: Pusher, the poll and Kick's webhooks (the receiver on a free loopback port, the
 * simulated Kick signing its deliveries with a per-run key it also serves, as Kick does). Every fourth change
 * is not announced on Pusher; of those, every other one is also lost by the webhook sender, so the poll
 * records it, and the rest arrive `via webhook`.
 */
import type { Command } from "@commander-js/extra-typings";
import { validateSettings } from "../config.ts";
import { FakeWorld } from "../sim/world.ts";
import { type FakeKick, startFakeKick } from "../sim/kick.ts";
import { type FakePusher, startFakePusher } from "../sim/pusher.ts";
import {
  type FakeWebhookSender,
  generateWebhookSigningKey,
  startFakeWebhookSender,
  type WebhookSigningKey,
} from "../sim/webhooks.ts";
import { addTarget } from "../store/notification_targets.ts";
import { Monitor } from "../monitor/monitor.ts";
import { ConfigError, UserFacingError } from "../lib/errors.ts";
import { configureLogging } from "../lib/log.ts";
import { escapeForTerminal } from "../lib/terminal.ts";
import type { Transition } from "../domain/types.ts";
import type { CommandContext } from "./context.ts";
import { parseIntegerArgument } from "./arguments.ts";
import {
  addStreamersFromKick,
  createKickClients,
  createLegacyLookup,
  openConfiguredStore,
} from "../resources.ts";

const DEMO_STREAMERS = ["xqc", "trainwreckstv", "adinross", "amouranth", "roshtein", "westcol"];
const CATEGORIES = [
  "Just Chatting",
  "Slots & Casino",
  "Grand Theft Auto V",
  "IRL",
  "Counter-Strike 2",
];

export interface DemoOptions {
  /** Stop after this long (tests); runs until `signal` aborts otherwise. */
  durationMs?: number;
  signal?: AbortSignal;
  /** Where lines go; stdout by default. */
  print?: (line: string) => void;
  /** Seconds between scripted changes (default 2). */
  changeEverySeconds?: number;
  /** Seed of the script's randomness, so a run can be replayed. */
  seed?: number;
  /** The simulated Kick's port (Pusher's is the next one); free ports when omitted. */
  port?: number;
}

/** The credentials the demo's simulated Kick accepts: demo values, not secrets, printed for a second shell. */
export const DEMO_CLIENT_ID = "demo";
export const DEMO_CLIENT_SECRET = "demo-secret";

export function registerDemoCommand(program: Command, _context: () => CommandContext): void {
  program.command("demo")
    .description(
      "run the monitor against a simulated Kick on an embedded database, until Ctrl-C; prints the " +
        "`export` lines that point a second shell's commands (or `service start` on PostgreSQL) at it",
    )
    .option("--seed <n>", "seed of the scripted changes")
    .option(
      "--port <n>",
      "serve the simulated Kick (OAuth, API, website) on 127.0.0.1:N and its Pusher on N+1, so the " +
        "printed lines stay the same from run to run (default: any free ports)",
    )
    .action(async (options) => {
      const port = options.port === undefined
        ? undefined
        : parseIntegerArgument("--port", options.port, 1, 65_534);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      Deno.addSignalListener("SIGINT", onSignal);
      Deno.addSignalListener("SIGTERM", onSignal);
      try {
        await runDemo({
          signal: stop.signal,
          seed: options.seed ? Number(options.seed) : undefined,
          port,
        });
      } finally {
        Deno.removeSignalListener("SIGINT", onSignal);
        Deno.removeSignalListener("SIGTERM", onSignal);
      }
    });
}

/** Runs the demo until the signal aborts or the duration passes. */
export async function runDemo(options: DemoOptions = {}): Promise<void> {
  const print = options.print ?? ((line: string) => console.log(line));
  const random = seededRandom(options.seed ?? Date.now() % 100_000);
  const world = new FakeWorld();
  for (const slug of DEMO_STREAMERS) world.addStreamer(slug);
  world.goLive("xqc", { title: "react andy", startedAt: new Date(Date.now() - 3_600_000) });
  world.goLive("roshtein", { title: "bonus hunt", category: "Slots & Casino" });
  const signingKey = await generateWebhookSigningKey();
  const { kick, pusher } = await startSimulatedKick(world, options.port, signingKey);
  const webhookPort = freeLoopbackPort();
  const pointers = {
    KICK_OAUTH_URL: kick.url,
    KICK_API_URL: kick.url,
    KICK_WEB_URL: kick.url,
    KICK_PUSHER_URL: pusher.url,
    KICK_CLIENT_ID: DEMO_CLIENT_ID,
    KICK_CLIENT_SECRET: DEMO_CLIENT_SECRET,
  };
  const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-demo-" });
  const settings = validateSettings({
    ...pointers,
    KICK_MONITOR_DATA_DIR: dataDir,
    KICK_MONITOR_POLL_INTERVAL: "5",
    KICK_MONITOR_OFFLINE_GRACE: "0",
    KICK_MONITOR_HTTP: "off",
    KICK_WEBHOOK_LISTEN: `127.0.0.1:${webhookPort}`,
    KICK_API_RATE: "20",
    LOG_LEVEL: "warn",
  });
  if (settings.config === null) throw new ConfigError(settings.problems);
  const config = settings.config;
  configureLogging({ level: "warn" });
  const opened = await openConfiguredStore(config);
  let monitor: Monitor | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  // Kick's deliveries, to the streamers the monitor subscribes (it does so itself when it starts).
  const sender: FakeWebhookSender = startFakeWebhookSender({
    world,
    targetUrl: `http://127.0.0.1:${webhookPort}${config.webhook.path}`,
    privateKey: signingKey.privateKey,
    subscriptions: kick.subscriptions,
    maxAttempts: 3,
  });
  try {
    const { api } = createKickClients(config);
    const adding = addStreamersFromKick(opened.store, DEMO_STREAMERS, {
      api,
      legacy: createLegacyLookup(config),
      batchSize: config.apiBatchSize,
    });
    for await (const _batch of adding) {
      // Stored as it comes; the demo prints its streamers once it runs.
    }
    print(`kick-monitor demo: simulated Kick at ${kick.url}, Pusher at ${pusher.url}`);
    print(`its signed webhooks go to the monitor's receiver at http://127.0.0.1:${webhookPort}`);
    print(`embedded database in ${dataDir}; ${DEMO_STREAMERS.length} streamers; Ctrl-C to stop`);
    print("");
    print("To point another shell's commands at this simulated Kick, paste:");
    print("");
    for (const [name, value] of Object.entries(pointers)) print(`export ${name}='${value}'`);
    print("");
    print(
      "and give that shell its own database (the demo's is embedded and in use): " +
        "export DATABASE_URL=postgres://… (then `service start` works too), or " +
        "export KICK_MONITOR_DATA_DIR=/tmp/kick-demo-2",
    );
    print("");
    // The product's point in the first minute: each go-live and offline is also "sent" to a console target.
    await addTarget(opened.store.db, {
      name: "demo-console",
      kind: "console",
      url: "console://",
      streamerIds: null,
      events: ["online", "offline"],
      mention: null,
      templateOnline: null,
      templateOffline: null,
      quietHours: null,
      timezone: null,
      secret: null,
    });
    monitor = await Monitor.create({
      config,
      store: opened.store,
      api,
      syncIntervalMs: 2_000,
      consoleOutput: (line) => print(`  notification: ${line}`),
    });
    monitor.onCommitted((transitions) => transitions.forEach((t) => print(describe(t))));
    await monitor.start();

    let changes = 0;
    timer = setInterval(() => {
      const slug = DEMO_STREAMERS[Math.floor(random() * DEMO_STREAMERS.length)];
      // Every fourth change is never announced on Pusher: a webhook reports it, or, every other time, the
      // webhook is lost too and the poll has to catch it.
      const missed = ++changes % 4 === 0;
      const pollOnly = changes % 8 === 4;
      pusher.setPublishing(!missed);
      if (pollOnly) sender.injectFault({ kind: "drop" });
      if (world.get(slug).live && changes % 3 === 0) {
        // A title change while live: a metadata webhook reports it (or the poll, when it is lost).
        world.retitle(slug, { title: `${slug} stream #${changes}` });
      } else if (world.get(slug).live) {
        world.goOffline(slug);
      } else {
        world.goLive(slug, {
          title: `${slug} stream #${changes}`,
          category: CATEGORIES[Math.floor(random() * CATEGORIES.length)],
        });
      }
      pusher.setPublishing(true);
      if (pollOnly) {
        print(
          `(${slug} changed without a Pusher event or a webhook; the next poll will record it)`,
        );
      } else if (missed) {
        print(`(${slug} changed without a Pusher event; its webhook will report it)`);
      }
    }, (options.changeEverySeconds ?? 2) * 1000);

    await new Promise<void>((resolve) => {
      if (options.signal?.aborted) return resolve();
      options.signal?.addEventListener("abort", () => resolve(), { once: true });
      if (options.durationMs !== undefined) setTimeout(resolve, options.durationMs);
    });
  } finally {
    clearInterval(timer);
    await sender.close();
    await monitor?.stop();
    await opened.close();
    await pusher.close();
    await kick.close();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
  print("demo stopped; its temporary database was removed.");
}

/**
 * Starts the simulated Kick on `port` and its Pusher on `port + 1` (free ports when omitted); a port in use is a
 * clear error, with nothing left running.
 */
async function startSimulatedKick(
  world: FakeWorld,
  port: number | undefined,
  signingKey: WebhookSigningKey,
): Promise<{ kick: FakeKick; pusher: FakePusher }> {
  const inUse = (which: number, what: string) =>
    new UserFacingError(
      `Port ${which} (the simulated ${what}) is already in use on 127.0.0.1; pick another --port ` +
        `(the demo uses N for Kick and N+1 for Pusher)`,
    );
  let kick: FakeKick;
  try {
    kick = await startFakeKick({
      world,
      clientId: DEMO_CLIENT_ID,
      clientSecret: DEMO_CLIENT_SECRET,
      port,
      webhooks: { signingKey },
    });
  } catch (error) {
    if (port !== undefined && error instanceof Deno.errors.AddrInUse) throw inUse(port, "Kick");
    throw error;
  }
  try {
    const pusher = await startFakePusher({
      world,
      port: port === undefined ? undefined : port + 1,
    });
    return { kick, pusher };
  } catch (error) {
    await kick.close();
    if (port !== undefined && error instanceof Deno.errors.AddrInUse) {
      throw inUse(port + 1, "Pusher");
    }
    throw error;
  }
}

/** A loopback port free right now, for the webhook receiver. */
function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function describe(t: Transition): string {
  const time = t.occurredAt.toISOString().slice(11, 23);
  const what = t.baseline
    ? `is ${t.type}`
    : t.type === "title"
    ? "NEW TITLE"
    : `went ${t.type.toUpperCase()}`;
  const title = t.title ? `  "${escapeForTerminal(t.title)}"` : "";
  const source = t.baseline ? "first check" : `via ${t.source}`;
  return `${time}  ${t.slug.padEnd(14)} ${what.padEnd(12)} ${source.padEnd(11)}${title}`;
}

/** A small deterministic generator (mulberry32), so a demo run can be replayed with --seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
