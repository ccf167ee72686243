/** The keepalive watchdog of one Pusher socket (src/pusher/keepalive.ts, protocol §3), on short real timers. */
import assert from "node:assert/strict";
import { Keepalive } from "../../src/pusher/keepalive.ts";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what: string, predicate: () => boolean): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > 2_000) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

function watch(pongTimeoutMs: number) {
  const seen = { pings: 0, dead: [] as string[] };
  const keepalive = new Keepalive({
    pongTimeoutMs,
    ping: () => seen.pings++,
    onDead: (reason) => seen.dead.push(reason),
  });
  return { keepalive, seen };
}

Deno.test("keepalive: pings after the activity timeout of silence, and a frame answers it", async () => {
  const { keepalive, seen } = watch(200);
  keepalive.touch(Date.now());
  keepalive.start(60);
  await delay(30);
  assert.equal(seen.pings, 0);
  await waitFor("a ping", () => seen.pings === 1);
  keepalive.touch(Date.now()); // the pong
  await delay(150);
  assert.deepEqual(seen.dead, []);
  keepalive.stop();
});

Deno.test("keepalive: frames keep postponing the ping", async () => {
  const { keepalive, seen } = watch(200);
  keepalive.touch(Date.now());
  keepalive.start(80);
  for (let i = 0; i < 5; i++) {
    await delay(30);
    keepalive.touch(Date.now());
  }
  assert.equal(seen.pings, 0);
  keepalive.stop();
});

Deno.test("keepalive: an unanswered ping declares the connection dead, once", async () => {
  const { keepalive, seen } = watch(50);
  keepalive.touch(Date.now());
  keepalive.start(30);
  await waitFor("the verdict", () => seen.dead.length === 1);
  await delay(100);
  assert.equal(seen.pings, 1);
  assert.deepEqual(seen.dead, ["no pong within 50 ms of pusher:ping"]);
  keepalive.stop();
});

Deno.test("keepalive: stop() cancels both timers", async () => {
  const { keepalive, seen } = watch(20);
  keepalive.touch(Date.now());
  keepalive.start(20);
  keepalive.stop();
  await delay(80);
  assert.equal(seen.pings, 0);
  assert.deepEqual(seen.dead, []);
});
