/** LegacyLookup against the fake kick.com/api/v2: best effort, never throws. */
import assert from "node:assert/strict";
import { KickHttpClient } from "../../src/kick/http.ts";
import { LEGACY_BLOCKED_WARNING, LegacyLookup } from "../../src/kick/legacy.ts";
import { FAST_HTTP, withRig } from "./kick_rig.ts";

Deno.test("a live channel gives its channel, chatroom and user ids", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("4head", {
      broadcasterUserId: 2642629,
      channelId: 2587387,
      chatroomId: 2579856,
    });
    const startedAt = new Date("2026-11-25T18:00:00.000Z");
    const stream = rig.world.goLive("4head", { title: "hi", viewers: 12, startedAt });
    assert.deepEqual(await rig.legacy.lookup("4head"), {
      kind: "found",
      slug: "4head",
      channelId: 2587387,
      chatroomId: 2579856,
      userId: 2642629,
      live: { livestreamId: stream.id, title: "hi", startedAt, viewers: 12 },
    });
    rig.world.goOffline("4head");
    const offline = await rig.legacy.lookup("4head");
    assert.equal(offline.kind, "found");
    if (offline.kind === "found") assert.equal(offline.live, null);
  });
});

Deno.test("an unknown slug is not-found", async () => {
  await withRig({}, async (rig) => {
    assert.deepEqual(await rig.legacy.lookup("nobody"), { kind: "not-found" });
  });
});

Deno.test("Cloudflare blocks: result blocked, one warning only, no retry", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    rig.fake.injectFault("legacy", { kind: "cloudflare" });
    rig.fake.injectFault("legacy", { kind: "cloudflare", variant: "json" });
    const first = await rig.legacy.lookup("a");
    const second = await rig.legacy.lookup("a");
    assert.equal(first.kind, "blocked");
    assert.equal(second.kind, "blocked");
    if (first.kind === "blocked") assert.match(first.reason, /Just a moment/);
    if (second.kind === "blocked") assert.match(second.reason, /security policy/);
    const warnings = rig.logs.filter((line) => line.includes("blocked by Cloudflare"));
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0].includes(JSON.stringify(LEGACY_BLOCKED_WARNING).slice(1, -1)));
    assert.match(warnings[0], /"level":"warn"/);
    assert.equal(rig.fake.requestsTo("legacy").length, 2);
    assert.equal((await rig.legacy.lookup("a")).kind, "found", "unblocked again");
  });
});

Deno.test("failures are results, never exceptions", async () => {
  await withRig({ http: { maxRetries: 1 } }, async (rig) => {
    rig.world.addStreamer("a");
    rig.fake.injectFault("legacy", { kind: "status", status: 503 }, 2);
    const unavailable = await rig.legacy.lookup("a");
    assert.equal(unavailable.kind, "failed");
    if (unavailable.kind === "failed") assert.match(unavailable.reason, /HTTP 503/);

    rig.fake.injectFault("legacy", { kind: "wrong-types" });
    const wrong = await rig.legacy.lookup("a");
    assert.equal(wrong.kind, "failed");
    if (wrong.kind === "failed") assert.match(wrong.reason, /chatroom\.id/);

    rig.fake.injectFault("legacy", { kind: "truncated-json" });
    assert.equal((await rig.legacy.lookup("a")).kind, "failed");

    rig.fake.injectFault("legacy", { kind: "status", status: 403 });
    assert.equal((await rig.legacy.lookup("a")).kind, "blocked");

    rig.fake.injectFault("legacy", { kind: "slow", delayMs: 300 });
    const controller = new AbortController();
    const pending = rig.legacy.lookup("a", controller.signal);
    setTimeout(() => controller.abort(new Error("stopping")), 20);
    assert.deepEqual(await pending, { kind: "failed", reason: "stopping" });

    const unreachable = new LegacyLookup({
      http: new KickHttpClient({ ...FAST_HTTP, maxRetries: 0 }),
      webUrl: "http://127.0.0.1:1",
    });
    const down = await unreachable.lookup("a");
    assert.equal(down.kind, "failed");
  });
});

Deno.test("slugs are escaped into the path", async () => {
  await withRig({}, async (rig) => {
    assert.deepEqual(await rig.legacy.lookup("a/b?c"), { kind: "not-found" });
    assert.equal(rig.fake.requestsTo("legacy")[0].path, "/api/v2/channels/a%2Fb%3Fc");
  });
});
