/**
 * `demo`: the whole product against the simulated Kick (OAuth, official API, legacy API and Pusher, all carried
 * by the binary), on a temporary embedded database, with no credentials and no network. Streamers go live and
 * offline on a script; each transition is printed as the database commits it, until Ctrl-C.
 */
import type { Command } from "@commander-js/extra-typings";
import { validateSettings } from "../config.ts";
import { FakeWorld } from "../sim/world.ts";
import { startFakeKick } from "../sim/kick.ts";
import { startFakePusher } from "../sim/pusher.ts";
import { Monitor } from "../monitor/monitor.ts";
import { learnChannelIds } from "../kick/resolve.ts";
import { ConfigError } from "../lib/errors.ts";
import { configureLogging } from "../lib/log.ts";
import type { Transition } from "../domain/types.ts";
import type { CommandContext } from "./context.ts";
import { createKickClients, createLegacyLookup, openConfiguredStore } from "./resources.ts";

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
}

export function registerDemoCommand(program: Command, _context: () => CommandContext): void {
  program.command("demo")
    .description("run the monitor against a simulated Kick on an embedded database, until Ctrl-C")
    .option("--seed <n>", "seed of the scripted changes")
    .action(async (options) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      Deno.addSignalListener("SIGINT", onSignal);
      Deno.addSignalListener("SIGTERM", onSignal);
      try {
        await runDemo({
          signal: stop.signal,
          seed: options.seed ? Number(options.seed) : undefined,
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
  const kick = await startFakeKick({ world, clientId: "demo", clientSecret: "demo-secret" });
  const pusher = await startFakePusher({ world });
  const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-demo-" });
  const settings = validateSettings({
    KICK_CLIENT_ID: "demo",
    KICK_CLIENT_SECRET: "demo-secret",
    KICK_OAUTH_URL: kick.url,
    KICK_API_URL: kick.url,
    KICK_WEB_URL: kick.url,
    KICK_PUSHER_URL: pusher.url,
    KICK_MONITOR_DATA_DIR: dataDir,
    KICK_MONITOR_POLL_INTERVAL: "5",
    KICK_MONITOR_OFFLINE_GRACE: "0",
    KICK_MONITOR_HTTP: "off",
    KICK_API_RATE: "20",
    LOG_LEVEL: "warn",
  });
  if (settings.config === null) throw new ConfigError(settings.problems);
  const config = settings.config;
  configureLogging({ level: "warn" });
  const opened = await openConfiguredStore(config);
  let monitor: Monitor | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    const { api } = createKickClients(config);
    const { channels } = await api.getChannelsBySlug(DEMO_STREAMERS);
    const ids = await learnChannelIds([...channels.values()], {
      api,
      legacy: createLegacyLookup(config),
    });
    await opened.store.addStreamers([...channels.values()].map((c) => ({
      slug: c.slug,
      broadcasterUserId: c.broadcasterUserId,
      channelId: ids.get(c.slug)?.channelId ?? null,
      chatroomId: ids.get(c.slug)?.chatroomId ?? null,
    })));
    print(`kick-monitor demo: simulated Kick at ${kick.url}, Pusher at ${pusher.url}`);
    print(`embedded database in ${dataDir}; ${DEMO_STREAMERS.length} streamers; Ctrl-C to stop`);
    print("");
    monitor = await Monitor.create({ config, store: opened.store, api, syncIntervalMs: 2_000 });
    monitor.onCommitted((transitions) => transitions.forEach((t) => print(describe(t))));
    await monitor.start();

    let changes = 0;
    timer = setInterval(() => {
      const slug = DEMO_STREAMERS[Math.floor(random() * DEMO_STREAMERS.length)];
      // Every fourth change is never announced on Pusher: the poll has to catch it.
      const missed = ++changes % 4 === 0;
      pusher.setPublishing(!missed);
      if (world.get(slug).live) {
        world.goOffline(slug);
      } else {
        world.goLive(slug, {
          title: `${slug} stream #${changes}`,
          category: CATEGORIES[Math.floor(random() * CATEGORIES.length)],
        });
      }
      pusher.setPublishing(true);
      if (missed) print(`(${slug} changed without a Pusher event; the next poll will record it)`);
    }, (options.changeEverySeconds ?? 2) * 1000);

    await new Promise<void>((resolve) => {
      if (options.signal?.aborted) return resolve();
      options.signal?.addEventListener("abort", () => resolve(), { once: true });
      if (options.durationMs !== undefined) setTimeout(resolve, options.durationMs);
    });
  } finally {
    clearInterval(timer);
    await monitor?.stop();
    await opened.close();
    await pusher.close();
    await kick.close();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
  print("demo stopped; its temporary database was removed.");
}

function describe(t: Transition): string {
  const time = t.occurredAt.toISOString().slice(11, 23);
  const what = t.baseline ? `is ${t.type}` : `went ${t.type.toUpperCase()}`;
  const title = t.title ? `  "${t.title}"` : "";
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
