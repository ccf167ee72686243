/**
 * The load of benchmark 2 (bench/latency.ts) in its own process, so the monitor under test shares its event loop
 * with nothing else: the fake Kick and fake Pusher over a FakeWorld of N streamers, flipping them online and
 * offline at a steady rate. Talks to the parent over stdin/stdout, one JSON line per message:
 *   → {"kickUrl", "pusherUrl", "streamers": [[slug, broadcasterUserId, channelId, chatroomId], …]}
 *   ← "go"   → (runs warm-up + window) → {"sends": [[streamerIndex, online 1 / offline 0, sentAt, inWindow 1/0], …]}
 *   ← "stop" (closes the fakes and exits)
 * `sentAt` is epoch milliseconds from `performance.timeOrigin + performance.now()`, comparable across processes.
 *
 * Usage: deno run -A bench/latency_feeder.ts STREAMERS RATE WARMUP_MS WINDOW_MS
 */
import { startFakeKick } from "../src/sim/kick.ts";
import { startFakePusher } from "../src/sim/pusher.ts";
import { FakeWorld } from "../src/sim/world.ts";

const [count, rate, warmupMs, windowMs] = Deno.args.map(Number);
const world = new FakeWorld();
const streamers: [string, number, number, number][] = [];
for (let i = 0; i < count; i++) {
  const s = world.addStreamer(`lat_${i}`);
  streamers.push([s.slug, s.broadcasterUserId, s.channelId, s.chatroomId]);
}
const kick = await startFakeKick({ world, clientId: "bench", clientSecret: "bench-secret" });
const pusher = await startFakePusher({ world, receivedLimit: 1_000 });
console.log(JSON.stringify({ kickUrl: kick.url, pusherUrl: pusher.url, streamers }));

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
async function nextCommand(): Promise<string> {
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) return "stop";
    text += value;
  }
  return text.trim();
}

if (await nextCommand() === "go") {
  const sends: [number, number, number, number][] = [];
  const startedAt = performance.now();
  let sent = 0;
  // Every 5 ms, the changes due by now, so the rate holds even when a tick runs late.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - startedAt;
      const due = Math.floor((Math.min(elapsed, warmupMs + windowMs) / 1000) * rate);
      while (sent < due) {
        const index = sent % count;
        const slug = streamers[index][0];
        const live = world.get(slug).live !== null;
        const sentAt = performance.timeOrigin + performance.now();
        if (live) world.goOffline(slug);
        else world.goLive(slug, { title: `${slug} #${sent}` });
        sends.push([
          index,
          live ? 0 : 1,
          sentAt,
          performance.now() - startedAt >= warmupMs ? 1 : 0,
        ]);
        sent++;
      }
      if (elapsed >= warmupMs + windowMs) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  console.log(JSON.stringify({ sends }));
  await nextCommand();
}
await pusher.close();
await kick.close();
Deno.exit(0);
