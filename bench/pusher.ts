/**
 * Benchmark 1: our Pusher client (`PusherPool`) against pusher-js 8.6.0, each in its own process, against the
 * same fake Pusher (src/sim/pusher.ts) in this process. Each subscribes 5,000 channels, then receives a burst of
 * 100,000 StreamerIsLive events spread over them. The burst's frames are built beforehand and handed to the fake
 * in one synchronous loop, so they queue up in the fake's sockets faster than either client reads them: the
 * client, not the fake, sets the pace.
 */
import { startFakePusher } from "../src/sim/pusher.ts";
import { BURST_EVENT, type Figure, round } from "./lib.ts";

export interface PusherBenchOptions {
  channels?: number;
  events?: number;
}

interface WorkerResult {
  subscribeMs: number;
  bytesPerChannel: number;
  rssPerChannel: number;
  eventsPerSecond: number;
  cpuMsPer1000: number;
  publishMs: number;
}

async function readLine(reader: ReadableStreamDefaultReader<string>, buffer: string[]) {
  while (true) {
    const joined = buffer.join("");
    const newline = joined.indexOf("\n");
    if (newline >= 0) {
      buffer.length = 0;
      buffer.push(joined.slice(newline + 1));
      return JSON.parse(joined.slice(0, newline));
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`Pusher worker ended early; it printed ${JSON.stringify(joined)}`);
    buffer.push(value);
  }
}

async function runOne(which: "ours" | "peer", channels: number, events: number) {
  const fake = await startFakePusher({ receivedLimit: 100 });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL("./pusher_worker.ts", import.meta.url).pathname,
      which,
      fake.url,
      String(fake.port),
      String(channels),
      String(events),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const buffer: string[] = [];
  const writer = child.stdin.getWriter();
  try {
    const subscribed = await readLine(reader, buffer);
    // The frames, built before the clock starts; channel by channel, round robin.
    const names = Array.from({ length: channels }, (_, i) => `channel.${100_000 + i}`);
    const payloads = names.map((_, i) =>
      JSON.stringify({
        livestream: {
          id: 74_000_000 + i,
          channel_id: 100_000 + i,
          session_title: "Benchmark stream with a title of a usual length",
          source: null,
          created_at: "2026-11-25T18:00:00.000000Z",
        },
      })
    );
    await writer.write(new TextEncoder().encode("go\n"));
    const publishStart = performance.now();
    let sent = 0;
    for (let i = 0; i < events; i++) {
      const c = i % channels;
      sent += fake.publish(names[c], BURST_EVENT, payloads[c]);
    }
    const publishMs = performance.now() - publishStart;
    if (sent !== events) throw new Error(`The fake delivered ${sent} of ${events} frames`);
    const done = await readLine(reader, buffer);
    if (done.stage !== "done") throw new Error(`Pusher worker: ${JSON.stringify(done)}`);
    await child.status;
    return {
      subscribeMs: subscribed.subscribeMs,
      bytesPerChannel: (subscribed.heapAfter - subscribed.heapBefore) / channels,
      rssPerChannel: (subscribed.rssAfter - subscribed.rssBefore) / channels,
      eventsPerSecond: done.events / done.seconds,
      cpuMsPer1000: done.cpuMs / (done.events / 1000),
      publishMs,
    } satisfies WorkerResult;
  } finally {
    await writer.close().catch(() => {});
    try {
      child.kill();
    } catch {
      // already exited
    }
    await child.status.catch(() => {});
    await fake.close();
  }
}

/** Runs benchmark 1 and returns its figures. */
export async function runPusher(options: PusherBenchOptions = {}): Promise<Figure[]> {
  const channels = options.channels ?? 5_000;
  const events = options.events ?? 100_000;
  const peer = await runOne("peer", channels, events);
  const ours = await runOne("ours", channels, events);
  const name = `1 Pusher client vs pusher-js (${channels.toLocaleString("en")} channels, ${
    events.toLocaleString("en")
  } events)`;
  return [
    {
      benchmark: name,
      figure: "throughput",
      unit: "events/s",
      ours: Math.round(ours.eventsPerSecond),
      peer: Math.round(peer.eventsPerSecond),
      ratio: round(ours.eventsPerSecond / peer.eventsPerSecond, 2),
      target: "≥ 1.5× pusher-js",
      pass: ours.eventsPerSecond >= 1.5 * peer.eventsPerSecond,
      note: `fake queued the burst in ${Math.round(ours.publishMs)} ms (ours) / ${
        Math.round(peer.publishMs)
      } ms (pusher-js)`,
    },
    {
      benchmark: name,
      figure: "CPU per 1,000 events",
      unit: "ms",
      ours: round(ours.cpuMsPer1000, 2),
      peer: round(peer.cpuMsPer1000, 2),
      ratio: round(ours.cpuMsPer1000 / peer.cpuMsPer1000, 2),
      target: "(reported)",
      pass: null,
    },
    {
      benchmark: name,
      figure: "memory per subscribed channel (JS heap after GC)",
      unit: "bytes",
      ours: Math.round(ours.bytesPerChannel),
      peer: Math.round(peer.bytesPerChannel),
      ratio: round(ours.bytesPerChannel / peer.bytesPerChannel, 2),
      target: "≤ pusher-js",
      pass: ours.bytesPerChannel <= peer.bytesPerChannel,
      note: `RSS per channel: ours ${Math.round(ours.rssPerChannel)} B, pusher-js ${
        Math.round(peer.rssPerChannel)
      } B; subscribe all: ours ${Math.round(ours.subscribeMs)} ms, pusher-js ${
        Math.round(peer.subscribeMs)
      } ms`,
    },
  ];
}

if (import.meta.main) {
  console.log(JSON.stringify(await runPusher(), null, 2));
}
