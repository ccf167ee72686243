/**
 * Property-based fuzzing (fast-check, 10,000 runs per property) of the pure pieces that untrusted input
 * reaches first: the Pusher frame parser (src/pusher/protocol.ts), Kick's event reader
 * (src/kick/pusher_events.ts) and the per-streamer status machine
 * (src/monitor/status_machine.ts, through src/monitor/pipeline.ts).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeData,
  encodeSubscribe,
  encodeUnsubscribe,
  MAX_FRAME_LENGTH,
  parseServerFrame,
  type ServerFrame,
} from "../../src/pusher/protocol.ts";
import {
  KICK_STOP_STREAM_BROADCAST,
  KICK_STREAMER_IS_LIVE,
  parseKickLiveEvent,
} from "../../src/kick/pusher_events.ts";
import {
  initialState,
  type MachineOptions,
  observe,
  type StreamerState,
  tick,
} from "../../src/monitor/status_machine.ts";
import { Pipeline } from "../../src/monitor/pipeline.ts";
import type { Observation, Transition } from "../../src/domain/types.ts";

const RUNS = { numRuns: 10_000 };

const KINDS = new Set<ServerFrame["kind"]>([
  "connection_established",
  "subscription_succeeded",
  "subscription_error",
  "error",
  "ping",
  "pong",
  "channel_event",
  "other",
  "malformed",
]);

const PUSHER_EVENTS = [
  "pusher:connection_established",
  "pusher:error",
  "pusher:ping",
  "pusher:pong",
  "pusher:subscription_error",
  "pusher_internal:subscription_succeeded",
  "pusher_internal:subscription_count",
  "pusher:cache_miss",
  KICK_STREAMER_IS_LIVE,
  KICK_STOP_STREAM_BROADCAST,
  "App\\Events\\ChatMessageEvent",
];

/** A classification a well-formed frame of `event` may get (anything may be malformed, given bad data). */
function allowedKinds(event: string, channel: unknown): ServerFrame["kind"][] {
  const internal = event.startsWith("pusher:") || event.startsWith("pusher_internal:");
  if (typeof channel === "string" && !internal) return ["channel_event"];
  switch (event) {
    case "pusher:ping":
      return ["ping"];
    case "pusher:pong":
      return ["pong"];
    case "pusher:connection_established":
      return ["connection_established", "malformed"];
    case "pusher_internal:subscription_succeeded":
      return ["subscription_succeeded", "malformed"];
    case "pusher:subscription_error":
      return ["subscription_error", "malformed"];
    case "pusher:error":
      return ["error", "subscription_error", "malformed"];
    default:
      return ["other"];
  }
}

// Anything at all that could arrive in `data`: JSON values, and the same values JSON-encoded a second time.
const anyData = fc.oneof(
  fc.jsonValue(),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.string(),
  fc.constant(undefined),
);

const frameObject = fc.record(
  {
    event: fc.oneof(fc.constantFrom(...PUSHER_EVENTS), fc.string()),
    channel: fc.oneof(
      fc.constantFrom("channel.668", "channel_668", "chatrooms.1.v2", ""),
      fc.string(),
      fc.constant(null),
      fc.integer(),
    ),
    data: anyData,
  },
  { requiredKeys: ["event"] },
);

Deno.test("fuzz: parseServerFrame never throws and classifies any text", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.json()), (text) => {
      const frame = parseServerFrame(text);
      assert.ok(KINDS.has(frame.kind), `unknown kind ${frame.kind}`);
      // Text that is not a JSON object is never anything but malformed.
      let outer: unknown;
      try {
        outer = JSON.parse(text);
      } catch {
        assert.equal(frame.kind, "malformed");
        return;
      }
      if (typeof outer !== "object" || outer === null || Array.isArray(outer)) {
        assert.equal(frame.kind, "malformed");
      }
    }),
    RUNS,
  );
});

Deno.test("fuzz: frames of every event, channel and data shape get the kind their event allows", () => {
  fc.assert(
    fc.property(frameObject, (object) => {
      const text = JSON.stringify(object);
      const frame = parseServerFrame(text);
      const { event, channel } = object;
      if (channel !== undefined && channel !== null && typeof channel !== "string") {
        assert.equal(frame.kind, "malformed");
        return;
      }
      assert.ok(
        allowedKinds(event, channel).includes(frame.kind),
        `${text} → ${frame.kind}`,
      );
      if (frame.kind === "channel_event") {
        // The channel and event are passed on exactly, with the second JSON encoding removed from data.
        assert.equal(frame.channel, channel);
        assert.equal(frame.event, event);
        assert.deepEqual(frame.data, decodeData(JSON.parse(text).data));
      }
      if (frame.kind === "malformed") assert.ok(frame.reason.length > 0);
    }),
    RUNS,
  );
});

Deno.test("fuzz: frames over the size limit are always malformed, whatever they hold", () => {
  const padding = "x".repeat(MAX_FRAME_LENGTH);
  fc.assert(
    fc.property(frameObject, (object) => {
      const frame = parseServerFrame(JSON.stringify({ ...object, padding }));
      assert.equal(frame.kind, "malformed");
    }),
    { numRuns: 200 },
  );
});

const kickId = fc.oneof(
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: 1, max: 1e15 }).map(String),
);

Deno.test("fuzz: Kick stream events — valid payloads are read exactly, anything else is malformed or null", () => {
  const valid = fc.record({
    livestream: fc.record({
      id: kickId,
      channel_id: kickId,
      session_title: fc.option(fc.string(), { nil: null }),
      created_at: fc.option(fc.string(), { nil: null }),
      channel: fc.record({ id: kickId }),
    }),
  });
  fc.assert(
    fc.property(
      fc.constantFrom(KICK_STREAMER_IS_LIVE, KICK_STOP_STREAM_BROADCAST, "App\\Events\\Other"),
      fc.oneof(valid, fc.jsonValue()),
      (event, data) => {
        const result = parseKickLiveEvent({ event, data });
        if (event === "App\\Events\\Other") return assert.equal(result, null);
        assert.ok(result !== null);
        if (result.kind === "malformed") return;
        const livestream = (data as { livestream: Record<string, unknown> }).livestream;
        assert.equal(result.livestreamId, Number(livestream.id));
        const channelId = result.kind === "live"
          ? livestream.channel_id
          : (livestream.channel as { id: unknown }).id;
        assert.equal(result.channelId, Number(channelId));
        assert.ok(Number.isSafeInteger(result.channelId) && result.channelId > 0);
      },
    ),
    RUNS,
  );
});

Deno.test("fuzz: subscribe and unsubscribe frames are valid JSON naming exactly the channel", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (channel) => {
      assert.equal(JSON.parse(encodeSubscribe(channel)).data.channel, channel);
      assert.equal(JSON.parse(encodeUnsubscribe(channel)).data.channel, channel);
    }),
    RUNS,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// The status machine

const T0 = Date.parse("2026-11-25T18:00:00Z");

/** One input to the machine: an observation, or a tick of the clock. */
type Step =
  | {
    kind: "observe";
    status: "online" | "offline";
    source: "pusher" | "poll";
    lag: number;
    livestreamId: number | null;
  }
  | { kind: "tick" };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("observe" as const),
      status: fc.constantFrom("online" as const, "offline" as const),
      source: fc.constantFrom("pusher" as const, "poll" as const),
      // How far the source's own time lies behind the arrival (a lagging poll, Kick's clock).
      lag: fc.integer({ min: 0, max: 120_000 }),
      livestreamId: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "tick" as const }) },
);

const run = fc.record({
  steps: fc.array(stepArbitrary, { maxLength: 40 }),
  /** Milliseconds between consecutive inputs. */
  gaps: fc.array(fc.integer({ min: 0, max: 90_000 }), { minLength: 40, maxLength: 40 }),
  graceMs: fc.constantFrom(0, 1, 30_000, 60_000),
});

interface Trace {
  transitions: Transition[];
  /** The state after every input. */
  states: StreamerState[];
  /** Arrival time of each tick that recorded an offline, with the offline. */
  tickRecords: { now: number; transition: Transition }[];
}

function observation(step: Extract<Step, { kind: "observe" }>, now: number): Observation {
  return {
    slug: "s",
    status: step.status,
    observedAt: new Date(now - step.lag),
    receivedAt: new Date(now),
    source: step.source,
    evidence: step.source === "poll" ? "poll" : "push",
    livestreamId: step.livestreamId,
    streamStartedAt: step.status === "online" ? new Date(now - step.lag) : null,
    title: null,
    category: null,
    viewers: null,
    raw: null,
  };
}

function drive(
  steps: Step[],
  gaps: number[],
  options: MachineOptions,
  transform: (step: Step) => Step[] = (step) => [step],
): Trace {
  let state = initialState("s");
  let now = T0;
  const trace: Trace = { transitions: [], states: [], tickRecords: [] };
  steps.forEach((original, i) => {
    now += gaps[i];
    for (const step of transform(original)) {
      const result = step.kind === "tick"
        ? tick(state, now, options)
        : observe(state, observation(step, now), options);
      state = result.state;
      trace.states.push(state);
      trace.transitions.push(...result.transitions);
      if (step.kind === "tick") {
        for (const transition of result.transitions) trace.tickRecords.push({ now, transition });
      }
    }
  });
  return trace;
}

Deno.test("fuzz: the machine never records two transitions of the same type in a row", () => {
  fc.assert(
    fc.property(run, ({ steps, gaps, graceMs }) => {
      const { transitions, states } = drive(steps, gaps, { offlineGraceMs: graceMs });
      for (let i = 1; i < transitions.length; i++) {
        assert.notEqual(transitions[i].type, transitions[i - 1].type, `transition ${i}`);
      }
      // The state agrees with the last transition; before any, the streamer is still unknown.
      const last = transitions.at(-1);
      const finalState = states.at(-1);
      if (finalState !== undefined) assert.equal(finalState.status, last?.type ?? "unknown");
      // Only the first transition can be a baseline, and only a poll makes one.
      transitions.forEach((t, i) => {
        if (t.baseline) {
          assert.equal(i, 0);
          assert.equal(t.source, "poll");
        }
      });
    }),
    RUNS,
  );
});

Deno.test("fuzz: an offline is recorded only after its grace, and arrival times never go backwards", () => {
  fc.assert(
    fc.property(run, ({ steps, gaps, graceMs }) => {
      const trace = drive(steps, gaps, { offlineGraceMs: graceMs });
      for (const { now, transition } of trace.tickRecords) {
        assert.equal(transition.type, "offline");
        assert.ok(now - transition.receivedAt.getTime() >= graceMs);
      }
      for (let i = 1; i < trace.transitions.length; i++) {
        assert.ok(
          trace.transitions[i].receivedAt.getTime() >=
            trace.transitions[i - 1].receivedAt.getTime(),
        );
      }
      // With a grace, nothing but a tick ever records an offline (except the very first status, and an
      // offline found missed by a new broadcast after a gap longer than the grace, recorded with that online).
      if (graceMs > 0) {
        const fromTicks = new Set(trace.tickRecords.map((r) => r.transition));
        trace.transitions.forEach((t, i) => {
          const withNewBroadcast = trace.transitions[i + 1]?.type === "online" &&
            trace.transitions[i + 1].receivedAt.getTime() === t.receivedAt.getTime();
          if (t.type === "offline" && i > 0 && !withNewBroadcast) assert.ok(fromTicks.has(t));
        });
      }
    }),
    RUNS,
  );
});

Deno.test("fuzz: with sources whose clocks agree, occurred times are monotonic", () => {
  fc.assert(
    fc.property(run, ({ steps, gaps, graceMs }) => {
      // No lag: every source reports the time it was seen.
      const inOrder = steps.map((s) => (s.kind === "observe" ? { ...s, lag: 0 } : s));
      const { transitions } = drive(inOrder, gaps, { offlineGraceMs: graceMs });
      for (let i = 1; i < transitions.length; i++) {
        assert.ok(
          transitions[i].occurredAt.getTime() >= transitions[i - 1].occurredAt.getTime(),
          `transition ${i}`,
        );
      }
    }),
    RUNS,
  );
});

Deno.test("fuzz: duplicate frames (every push observation delivered twice) change nothing", () => {
  fc.assert(
    fc.property(run, ({ steps, gaps, graceMs }) => {
      const options = { offlineGraceMs: graceMs };
      const once = drive(steps, gaps, options);
      // Only frames are duplicated: two poll answers are two answers, which the machine rightly weighs.
      const twice = drive(
        steps,
        gaps,
        options,
        (step) => step.kind === "observe" && step.source === "pusher" ? [step, step] : [step],
      );
      assert.deepEqual(
        twice.transitions.map((t) => t.dedupeKey),
        once.transitions.map((t) => t.dedupeKey),
      );
    }),
    RUNS,
  );
});

Deno.test("fuzz: the pipeline keeps streamers apart and ignores slugs it does not monitor", () => {
  const slugs = ["a", "b", "c"];
  const tagged = fc.array(
    fc.record({ slug: fc.constantFrom(...slugs, "stranger"), step: stepArbitrary }),
    { maxLength: 40 },
  );
  fc.assert(
    fc.property(tagged, fc.integer({ min: 0, max: 60_000 }), (inputs, graceMs) => {
      const options = { offlineGraceMs: graceMs };
      const pipeline = new Pipeline(options);
      pipeline.sync(
        slugs.map((slug) => ({ slug, status: "unknown", statusChangedAt: null, session: null })),
      );
      let now = T0;
      const together: Transition[] = [];
      let strangers = 0;
      for (const { slug, step } of inputs) {
        now += 1_000;
        if (step.kind === "tick") together.push(...pipeline.tick(now));
        else {
          if (slug === "stranger") strangers++;
          together.push(...pipeline.ingest({ ...observation(step, now), slug }));
        }
      }
      assert.equal(pipeline.counters.ignored, strangers);
      assert.ok(together.every((t) => t.slug !== "stranger"));
      // Each streamer's transitions are what its machine alone would have produced from its own inputs,
      // given the same ticks.
      for (const slug of slugs) {
        let state = initialState(slug);
        let at = T0;
        const alone: Transition[] = [];
        for (const input of inputs) {
          at += 1_000;
          if (input.step.kind === "tick") {
            const result = tick(state, at, options);
            state = result.state;
            alone.push(...result.transitions);
          } else if (input.slug === slug) {
            const result = observe(state, { ...observation(input.step, at), slug }, options);
            state = result.state;
            alone.push(...result.transitions);
          }
        }
        assert.deepEqual(
          together.filter((t) => t.slug === slug).map((t) => t.dedupeKey),
          alone.map((t) => t.dedupeKey),
        );
      }
    }),
    RUNS,
  );
});
