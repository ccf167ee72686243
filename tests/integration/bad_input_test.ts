/**
 * Hostile input through real sockets and the real CLI (the pure edges are in tests/unit/bad_input_test.ts).
 * Each case names the input and the outcome it must get: no crash, nothing stored lost, and a clear message
 * with interface.md's exit code, or a drop that is counted and logged.
 *
 * - Pusher: hostile frames from the fake Pusher server into the monitor's PusherSource, then a flood of 10,000
 *   frames in about a second; the socket stays up and a real event still arrives.
 * - CLI: `kick-monitor …` in a subprocess on an embedded database in a temporary data directory, against the fake
 *   Kick; a streamer and an event recorded first are still there after every bad command.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configureLogging } from "../../src/lib/log.ts";
import { KICK_STOP_STREAM_BROADCAST, KICK_STREAMER_IS_LIVE } from "../../src/kick/pusher_events.ts";
import { PusherSource } from "../../src/monitor/sources/pusher_source.ts";
import type { Observation } from "../../src/domain/types.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import { startFakeKick } from "../../src/sim/kick.ts";
import { startFakePusher } from "../../src/sim/pusher.ts";
import { type CliResult, runCli, waitFor } from "../helpers/cli.ts";

const logs: string[] = [];
configureLogging({ format: "json", level: "debug", write: (line) => logs.push(line) });

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------------------------
// Pusher frames on a real socket

interface SocketCase {
  name: string;
  /** What the fake server sends (raw text), given the streamer's channel id. */
  frame: (channelId: number) => string;
  /** Counter increases expected; every other counter stays as it was. */
  malformedFrames?: number;
  malformedEvents?: number;
  unknownChannelEvents?: number;
  observations?: number;
}

const live = (channel: string, channelId: number, livestreamId = 1) =>
  JSON.stringify({
    event: KICK_STREAMER_IS_LIVE,
    channel,
    data: JSON.stringify({
      livestream: {
        id: livestreamId,
        channel_id: channelId,
        session_title: "t",
        created_at: "2026-11-25T18:00:00.000000Z",
      },
    }),
  });

const socketCases: SocketCase[] = [
  { name: "not JSON", frame: () => "this is not json", malformedFrames: 1 },
  { name: "a JSON array", frame: () => "[1,2,3]", malformedFrames: 1 },
  { name: "JSON of the wrong shape", frame: () => '{"event":42,"data":"{}"}', malformedFrames: 1 },
  {
    name: "a numeric channel",
    frame: () => JSON.stringify({ event: KICK_STREAMER_IS_LIVE, channel: 7, data: "{}" }),
    malformedFrames: 1,
  },
  {
    name: "StreamerIsLive whose data is not JSON",
    frame: (id) =>
      JSON.stringify({ event: KICK_STREAMER_IS_LIVE, channel: `channel.${id}`, data: "{oops" }),
    malformedEvents: 1,
  },
  {
    name: "StreamerIsLive whose data is not a string but the wrong object",
    frame: (id) =>
      JSON.stringify({ event: KICK_STREAMER_IS_LIVE, channel: `channel.${id}`, data: [1, 2] }),
    malformedEvents: 1,
  },
  {
    name: "StopStreamBroadcast without livestream.channel",
    frame: (id) =>
      JSON.stringify({
        event: KICK_STOP_STREAM_BROADCAST,
        channel: `channel_${id}`,
        data: JSON.stringify({ livestream: { id: 1 } }),
      }),
    malformedEvents: 1,
  },
  {
    name: "an unknown event on our channel (ignored)",
    frame: (id) =>
      JSON.stringify({ event: "App\\Events\\Mystery", channel: `channel.${id}`, data: "{}" }),
  },
  {
    name: "an unknown pusher_internal event (ignored)",
    frame: () => JSON.stringify({ event: "pusher_internal:mystery", data: "{}" }),
  },
  {
    name: "a pusher:error while connected (logged, not fatal)",
    frame: () => JSON.stringify({ event: "pusher:error", data: { code: 4301, message: "x" } }),
  },
  {
    name: "a valid event on a channel we never subscribed (dropped)",
    frame: () => live("channel.999999", 999_999),
  },
  {
    name: "a valid event on our channel naming another channel id (counted)",
    frame: (id) => live(`channel.${id}`, 424_242),
    unknownChannelEvents: 1,
  },
  {
    name: "a 1 MB+ frame (over the frame limit)",
    frame: (id) =>
      JSON.stringify({
        event: KICK_STREAMER_IS_LIVE,
        channel: `channel.${id}`,
        data: "x".repeat(1_100_000),
      }),
    malformedFrames: 1,
  },
];

Deno.test({
  name: "bad input / pusher socket: hostile frames are dropped and counted, the socket carries on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const world = new FakeWorld();
    const streamer = world.addStreamer("xqc", { channelId: 668 });
    const fake = await startFakePusher({ world });
    const observations: Observation[] = [];
    const source = new PusherSource({
      url: fake.url,
      channelsPerSocket: 100,
      emit: (observation) => observations.push(observation),
      onReconnected: () => {},
      pool: { backoff: { baseMs: 20, capMs: 200 }, handshakeTimeoutMs: 1_000 },
    });
    try {
      source.setStreamers([{ slug: "xqc", channelId: streamer.channelId }]);
      source.start();
      await waitFor("both subscriptions", () => source.stats().channelsSubscribed === 2, 5_000);

      for (const c of socketCases) {
        await t.step(c.name, async () => {
          const before = { ...source.stats(), observations: observations.length };
          const framesBefore = before.framesReceived;
          assert.equal(fake.publishRaw(c.frame(streamer.channelId)), 1);
          await waitFor("the frame", () => source.stats().framesReceived > framesBefore, 5_000);
          await delay(5);
          const after = { ...source.stats(), observations: observations.length };
          assert.equal(after.malformedFrames - before.malformedFrames, c.malformedFrames ?? 0);
          assert.equal(after.malformedEvents - before.malformedEvents, c.malformedEvents ?? 0);
          assert.equal(
            after.unknownChannelEvents - before.unknownChannelEvents,
            c.unknownChannelEvents ?? 0,
          );
          assert.equal(after.observations - before.observations, c.observations ?? 0);
          assert.equal(after.reconnects, before.reconnects, "the socket stayed up");
          assert.equal(after.socketsConnected, 1);
        });
      }
      assert.ok(logs.some((line) => line.includes("Malformed Pusher frame ignored")), "logged");
      assert.ok(logs.some((line) => line.includes("unexpected payload")), "logged");

      await t.step("a flood of 10,000 frames in about a second, half garbage", async () => {
        const before = source.stats();
        const observed = observations.length;
        for (let burst = 0; burst < 10; burst++) {
          for (let i = 0; i < 500; i++) {
            fake.publishRaw(`garbage ${burst}.${i}`);
            // The same live event again and again: duplicate frames, observations the machine will dedupe.
            fake.publishRaw(live(`channel.${streamer.channelId}`, streamer.channelId, 7));
          }
          await delay(100);
        }
        await waitFor(
          "every flood frame",
          () => source.stats().framesReceived - before.framesReceived >= 10_000,
          15_000,
        );
        const after = source.stats();
        assert.equal(after.malformedFrames - before.malformedFrames, 5_000);
        assert.equal(observations.length - observed, 5_000);
        assert.equal(after.reconnects, before.reconnects);
        // A real change still gets through, right after the flood.
        const afterFlood = observations.length;
        world.goLive("xqc", { livestreamId: 99 });
        await waitFor("the real event", () => observations.length >= afterFlood + 2, 2_000);
        assert.equal(observations.at(-1)?.livestreamId, 99);
      });
    } finally {
      await source.stop();
      await fake.close();
    }
  },
});

// ---------------------------------------------------------------------------------------------------------------
// The real CLI

interface CliCase {
  name: string;
  args: string[];
  env?: Record<string, string>;
  code: number;
  stderr: RegExp;
}

const cliCases: CliCase[] = [
  {
    name: "a slug with SQL in it",
    args: ["streamers", "add", "x';DROP TABLE s;--"],
    code: 2,
    stderr: /characters Kick slugs never contain/,
  },
  {
    name: "a slug with a quote and a semicolon to remove",
    args: ["streamers", "remove", "xqc';--"],
    code: 2,
    stderr: /characters Kick slugs never contain/,
  },
  {
    name: "a Cyrillic slug",
    args: ["streamers", "add", "ксюша"],
    code: 2,
    stderr: /characters Kick slugs never contain/,
  },
  {
    name: "an emoji slug",
    args: ["streamers", "add", "gamer🎮"],
    code: 2,
    stderr: /characters Kick slugs never contain/,
  },
  {
    name: "a right-to-left override in a slug",
    args: ["streamers", "add", "xqc\u202egnp"],
    code: 2,
    stderr: /characters Kick slugs never contain/,
  },
  {
    name: "a 26-character slug",
    args: ["streamers", "add", "a".repeat(26)],
    code: 2,
    stderr: /26 characters long; Kick slugs have at most 25/,
  },
  {
    name: "a 10,000-character slug",
    args: ["streamers", "add", "b".repeat(10_000)],
    code: 2,
    stderr: /10000 characters long/,
  },
  { name: "an empty slug", args: ["streamers", "add", ""], code: 2, stderr: /must not be empty/ },
  { name: "a blank slug", args: ["streamers", "add", "   "], code: 2, stderr: /must not be empty/ },
  { name: "no slug at all", args: ["streamers", "add"], code: 2, stderr: /missing required/ },
  {
    name: "a channel id that is not a number",
    args: ["streamers", "add", "xqc", "--channel-id", "12abc"],
    code: 2,
    stderr: /--channel-id must be a whole number/,
  },
  {
    name: "a channel id of zero",
    args: ["streamers", "add", "xqc", "--channel-id", "0"],
    code: 2,
    stderr: /--channel-id must be a whole number from 1 to/,
  },
  {
    name: "a channel id for two slugs",
    args: ["streamers", "add", "xqc", "alpha", "--channel-id", "5"],
    code: 2,
    stderr: /exactly one slug/,
  },
  {
    name: "events with a limit that is not a number",
    args: ["events", "list", "--limit", "ten"],
    code: 2,
    stderr: /--limit must be a whole number/,
  },
  {
    name: "events with a limit of zero",
    args: ["events", "list", "--limit", "0"],
    code: 2,
    stderr: /--limit must be a whole number from 1 to 100000, got "0"/,
  },
  {
    name: "events with a negative limit (the same message as zero)",
    args: ["events", "list", "--limit", "-1"],
    code: 2,
    stderr: /--limit must be a whole number from 1 to 100000, got "-1"/,
  },
  {
    name: "events since an impossible date",
    args: ["events", "list", "--since", "2026-02-30"],
    code: 2,
    stderr: /--since must be an ISO 8601 date/,
  },
  {
    name: "events since an impossible time",
    args: ["events", "list", "--since", "2026-02-28T24:30:00Z"],
    code: 2,
    stderr: /--since must be an ISO 8601 date/,
  },
  {
    name: "events of a streamer nobody monitors",
    args: ["events", "list", "--streamer", "nobody"],
    code: 1,
    stderr: /No streamer named "nobody" is monitored/,
  },
  {
    name: "history of a streamer nobody monitors",
    args: ["streamers", "history", "nobody"],
    code: 1,
    stderr: /No streamer named "nobody" is monitored/,
  },
  {
    name: "removing a streamer without --yes (not a terminal)",
    args: ["streamers", "remove", "xqc"],
    code: 2,
    stderr: /would delete the recorded history of xqc.*--yes/,
  },
  {
    name: "events since a date that is not ISO 8601",
    args: ["events", "list", "--since", "yesterday"],
    code: 2,
    stderr: /--since must be an ISO 8601 date/,
  },
  {
    name: "events of a streamer with SQL in the slug",
    args: ["events", "list", "--streamer", "' OR 1=1 --"],
    code: 2,
    stderr: /characters Kick slugs never contain/,
  },
  {
    name: "history with a huge limit",
    args: ["streamers", "history", "xqc", "--limit", "99999999999999999999"],
    code: 2,
    stderr: /--limit must be a whole number from 1 to 10000,/,
  },
  {
    name: "service stop with a timeout that is not a number",
    args: ["service", "stop", "--timeout", "soon"],
    code: 2,
    stderr: /--timeout must be a whole number/,
  },
  { name: "an unknown command", args: ["streamers", "frobnicate"], code: 2, stderr: /unknown/ },
  { name: "an unknown flag", args: ["streamers", "list", "--bogus"], code: 2, stderr: /unknown/ },
  {
    name: "config validate with a wrong value",
    args: ["config", "validate"],
    env: { KICK_MONITOR_POLL_INTERVAL: "often" },
    code: 78,
    stderr: /KICK_MONITOR_POLL_INTERVAL="often": expected a whole number of seconds/,
  },
  {
    name: "a command with a wrong value",
    args: ["streamers", "list"],
    env: { KICK_API_BATCH_SIZE: "500" },
    code: 78,
    stderr: /KICK_API_BATCH_SIZE="500": expected 1 to 50/,
  },
  {
    name: "an --env-file that does not exist",
    args: ["--env-file", "/nonexistent/kick.env", "streamers", "list"],
    code: 78,
    stderr: /--env-file "\/nonexistent\/kick.env": no such file/,
  },
  {
    name: "a valid slug Kick does not know",
    args: ["streamers", "add", "nosuchstreamer"],
    code: 1,
    stderr: /Kick has no channel named "nosuchstreamer"/,
  },
];

Deno.test({
  name: "bad input / CLI: bad arguments exit with their code and a clear message, and lose nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const world = new FakeWorld();
    world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668 });
    world.addStreamer("alpha");
    world.addStreamer("stray");
    const kick = await startFakeKick({ world, clientId: "bad-input", clientSecret: "bad-secret" });
    const dir = await Deno.makeTempDir({ prefix: "kick-monitor-bad-cli-" });
    const envFile = join(dir, "empty.env");
    await Deno.writeTextFile(envFile, "");
    const env = {
      DATABASE_URL: "",
      KICK_CLIENT_ID: "bad-input",
      KICK_CLIENT_SECRET: "bad-secret",
      KICK_OAUTH_URL: kick.url,
      KICK_API_URL: kick.url,
      KICK_WEB_URL: kick.url,
      KICK_MONITOR_DATA_DIR: join(dir, "data"),
      KICK_API_RATE: "50",
      KICK_MONITOR_HTTP: "off",
      LOG_LEVEL: "warn",
      LOG_FORMAT: "json",
    };
    const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> =>
      runCli(["--env-file", envFile, ...args], { ...env, ...extra });
    const stored = async () => {
      const streamers = await cli(["streamers", "list", "--json"]);
      assert.equal(streamers.code, 0, streamers.stderr);
      const events = await cli(["events", "list", "--json"]);
      assert.equal(events.code, 0, events.stderr);
      return {
        streamers: (JSON.parse(streamers.stdout) as { slug: string; status: string }[])
          .map((s) => `${s.slug}:${s.status}`),
        events: (JSON.parse(events.stdout) as { slug: string; type: string }[])
          .map((e) => `${e.slug}:${e.type}`),
      };
    };
    try {
      // What must survive: a streamer and one recorded event.
      const added = await cli(["streamers", "add", "xqc"]);
      assert.equal(added.code, 0, added.stderr);
      assert.equal((await cli(["check"])).code, 0);
      world.goLive("xqc");
      const checked = await cli(["check"]);
      assert.equal(checked.code, 0, checked.stderr);
      const baseline = await stored();
      assert.deepEqual(baseline, { streamers: ["xqc:online"], events: ["xqc:online"] });

      for (const c of cliCases) {
        await t.step(`${c.name} → exit ${c.code}`, async () => {
          const result = await cli(c.args, c.env);
          assert.equal(result.code, c.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
          assert.match(result.stderr, c.stderr);
          // No stack trace: a message a user can act on.
          assert.doesNotMatch(result.stderr, /^\s+at /m);
        });
      }

      await t.step("Kick answers truncated JSON while adding → exit 1, nothing added", async () => {
        kick.injectFault("channels", { kind: "truncated-json" });
        const result = await cli(["streamers", "add", "alpha"]);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /Unexpected response from Kick/);
      });

      await t.step("Kick adds a channel we did not ask for → only ours is added", async () => {
        kick.injectFault("channels", { kind: "stray-channel", slug: "stray" });
        const result = await cli(["streamers", "add", "alpha"]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, /not asked for/);
        assert.deepEqual((await stored()).streamers.sort(), ["alpha:unknown", "xqc:online"]);
        const removed = await cli(["streamers", "remove", "alpha", "--yes"]);
        assert.equal(removed.code, 0, removed.stderr);
      });

      assert.deepEqual(await stored(), baseline, "nothing stored was lost or added");
    } finally {
      await kick.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
