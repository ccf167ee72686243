/**
 * One Pusher client in its own process, for benchmark 1 (bench/pusher.ts): ours (`PusherPool`) or the peer
 * (pusher-js), so each has its own heap and CPU account. Talks to the parent over stdin/stdout, one JSON line
 * per message:
 *   → {"stage":"subscribed", heapBefore, heapAfter, rssBefore, rssAfter, channels}  (all channels confirmed)
 *   ← any line on stdin: the burst is about to start
 *   → {"stage":"done", events, firstAt, lastAt, cpuMs}  (every expected event counted)
 *
 * Usage: deno run -A --v8-flags=--expose-gc bench/pusher_worker.ts ours|peer URL PORT CHANNELS EVENTS
 */
import process from "node:process";
import pusherJs from "pusher-js";
import { PusherPool } from "../src/pusher/pool.ts";
import { configureLogging } from "../src/lib/log.ts";
import { BURST_EVENT } from "./lib.ts";

// pusher-js is CommonJS with ESM-style typings (see tests/integration/pusher_js_compat_test.ts).
const Pusher = pusherJs as unknown as typeof pusherJs.default;

interface Client {
  subscribed(): number;
  stop(): Promise<void>;
}

const [which, url, portText, channelsText, eventsText] = Deno.args;
const channelCount = Number(channelsText);
const expected = Number(eventsText);
const names = Array.from({ length: channelCount }, (_, i) => `channel.${100_000 + i}`);

let events = 0;
let firstAt = 0;
let lastAt = 0;
let cpuAtFirst = process.cpuUsage();
let finished: () => void = () => {};
const done = new Promise<void>((resolve) => finished = resolve);

/** Counts one received event; the first and last arrival bound the throughput window. */
function count(): void {
  if (events === 0) {
    firstAt = performance.now();
    cpuAtFirst = process.cpuUsage();
  }
  events++;
  if (events === expected) {
    lastAt = performance.now();
    finished();
  }
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function startOurs(): Client {
  configureLogging({ level: "error" });
  const pool = new PusherPool({
    url,
    // The product's default (KICK_MONITOR_CHANNELS_PER_SOCKET), so 5,000 channels ride on 25 sockets.
    channelsPerSocket: 200,
    onChannelEvent: (event) => {
      if (event.event === BURST_EVENT) count();
    },
  });
  pool.setChannels(names);
  pool.start();
  return {
    subscribed: () => pool.stats().channelsSubscribed,
    stop: () => pool.stop(),
  };
}

function startPeer(): Client {
  const pusher = new Pusher("32cbd69e4b950bf97679", {
    cluster: "us2",
    wsHost: "127.0.0.1",
    wsPort: Number(portText),
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
  });
  let subscribed = 0;
  for (const name of names) {
    const channel = pusher.subscribe(name);
    channel.bind("pusher:subscription_succeeded", () => subscribed++);
    channel.bind(BURST_EVENT, () => count());
  }
  return {
    subscribed: () => subscribed,
    stop: () => {
      pusher.disconnect();
      return Promise.resolve();
    },
  };
}

function report(message: Record<string, unknown>): void {
  console.log(JSON.stringify(message));
}

gc();
const heapBefore = Deno.memoryUsage().heapUsed;
const rssBefore = Deno.memoryUsage().rss;
const client = which === "ours" ? startOurs() : startPeer();
const started = performance.now();
while (client.subscribed() < channelCount) {
  if (performance.now() - started > 60_000) {
    throw new Error(
      `Only ${client.subscribed()} of ${channelCount} channels subscribed after 60 s`,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const subscribeMs = performance.now() - started;
gc();
report({
  stage: "subscribed",
  channels: channelCount,
  subscribeMs,
  heapBefore,
  heapAfter: Deno.memoryUsage().heapUsed,
  rssBefore,
  rssAfter: Deno.memoryUsage().rss,
});

// Wait for the parent's go (any line on stdin), then for the burst to arrive.
const reader = Deno.stdin.readable.getReader();
await reader.read();
reader.releaseLock();
const timeout = setTimeout(() => {
  report({ stage: "timeout", events });
  Deno.exit(1);
}, 120_000);
await done;
clearTimeout(timeout);
const cpu = process.cpuUsage(cpuAtFirst);
report({
  stage: "done",
  events,
  seconds: (lastAt - firstAt) / 1000,
  cpuMs: (cpu.user + cpu.system) / 1000,
  rssPeak: Deno.memoryUsage().rss,
});
await client.stop();
Deno.exit(0);
