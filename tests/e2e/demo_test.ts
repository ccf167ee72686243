/**
 * The demo on the embedded database: the simulated Kick and the real monitor, in-process. Proves the
 * PGlite path end to end (pusher transitions, a missed event caught by a webhook or the poll, baselines on
 * first check).
 */
import assert from "node:assert/strict";
import { runDemo } from "../../src/cli/demo_command.ts";

Deno.test({
  name: "demo: transitions from pusher and from the poll are printed as they are committed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const lines: string[] = [];
    await runDemo({
      durationMs: 13_000,
      changeEverySeconds: 1,
      seed: 7,
      print: (l) => lines.push(l),
    });
    const text = lines.join("\n");
    assert.match(text, /xqc\s+is online\s+first check/);
    assert.match(text, /went ONLINE\s+via pusher/);
    assert.match(text, /went OFFLINE\s+via pusher/);
    assert.match(text, /changed without a Pusher event/);
    assert.match(text, /via poll/, text);
    // Kick's signed webhooks are a source too: the changes Pusher missed and the webhook did not.
    assert.match(text, /changed without a Pusher event; its webhook will report it/);
    assert.match(text, /via webhook/, text);
    assert.match(lines[lines.length - 1], /demo stopped/);
  },
});
