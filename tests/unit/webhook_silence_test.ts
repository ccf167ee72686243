import assert from "node:assert/strict";
import { WebhookSilence } from "../../src/monitor/sources/webhook_silence.ts";

Deno.test("webhook silence: a change answered by its webhook within the window is no silence", () => {
  const silence = new WebhookSilence({ windowMs: 1_000 });
  silence.seen("a", "online", "offline", 0);
  assert.equal(silence.check(999).silent, false);
  silence.delivered("a");
  assert.deepEqual(silence.check(5_000), { silent: false, slugs: [], oldestMs: 0, changed: false });
});

Deno.test("webhook silence: a change without its webhook past the window starts one episode", () => {
  const silence = new WebhookSilence({ windowMs: 1_000 });
  silence.seen("b", "online", "offline", 0);
  silence.seen("a", "offline", "online", 500);
  const first = silence.check(1_000);
  assert.deepEqual(first, { silent: true, slugs: ["b"], oldestMs: 1_000, changed: true });
  // Still silent: no second "changed" (one warning per episode).
  const second = silence.check(1_600);
  assert.deepEqual(second.slugs, ["a", "b"]);
  assert.equal(second.changed, false);
  silence.delivered("a");
  silence.delivered("b");
  assert.deepEqual(silence.check(2_000), { silent: false, slugs: [], oldestMs: 0, changed: true });
  assert.equal(silence.check(3_000).changed, false);
});

Deno.test("webhook silence: a repeat keeps the earlier time, a flicker undone is withdrawn", () => {
  const silence = new WebhookSilence({ windowMs: 1_000 });
  silence.seen("a", "online", "offline", 0);
  silence.seen("a", "online", "offline", 900); // the poll confirming Pusher's news
  assert.equal(silence.check(1_000).silent, true);
  silence.seen("a", "online", "online", 1_000); // Pusher's second channel, after the change was recorded
  assert.equal(silence.check(1_001).silent, true);
  // A poll answer the next one contradicts (a flicker, never recorded): withdrawn.
  silence.seen("c", "online", "offline", 2_000);
  silence.seen("c", "offline", "offline", 2_500);
  assert.deepEqual(silence.check(3_500).slugs, ["a"]);
});

Deno.test("webhook silence: streamers no longer monitored are forgotten", () => {
  const silence = new WebhookSilence();
  assert.equal(silence.windowMs, 120_000);
  silence.seen("gone", "online", "offline", 0);
  silence.seen("kept", "online", "offline", 0);
  silence.forget((slug) => slug === "kept");
  assert.deepEqual(silence.check(200_000).slugs, ["kept"]);
});
