/**
 * The title rules (src/monitor/title_machine.ts header) as a table of orderings run through the Pipeline (the
 * rules depend on the status machine's state), and a property test: a lagging, flickering poll and lost, late
 * or repeated metadata webhooks against a ground truth of title changes never record a title twice, never
 * flip back to an older one, never record one the truth lacks, and end on the truth's last title.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Observation, Transition } from "../../src/domain/types.ts";
import { Pipeline } from "../../src/monitor/pipeline.ts";
import { observeTitle, titleAtGoLive, titleDedupeKey } from "../../src/monitor/title_machine.ts";

const T0 = Date.parse("2026-11-25T18:00:00Z");
const S = 1_000;
const POLL = 5 * S;

/** One input, at `at` seconds after T0. */
type Input =
  | { at: number; push: "online"; title: string }
  | { at: number; push: "offline" }
  /** A webhook `livestream.metadata.updated`, sent at `sent` (default `at`). */
  | { at: number; metadata: string; category?: string; sent?: number }
  /** A poll answer: live since T0, with this title (null: the answer lacks it) and category. */
  | { at: number; poll: string | null; category?: string; started?: number }
  | { at: number; pollOffline: true }
  | { at: number; tick: true };

const LIVESTREAM = 7;

function observationOf(input: Exclude<Input, { tick: true }>): Observation {
  const at = new Date(T0 + input.at * S);
  const base = { slug: "xqc", receivedAt: at, viewers: null, raw: null, category: null };
  if ("push" in input) {
    return {
      ...base,
      status: input.push,
      observedAt: input.push === "online" ? new Date(T0) : at,
      source: "pusher",
      evidence: "push",
      livestreamId: LIVESTREAM,
      streamStartedAt: input.push === "online" ? new Date(T0) : null,
      title: input.push === "online" ? input.title : null,
    };
  }
  if ("metadata" in input) {
    return {
      ...base,
      kind: "metadata",
      status: "online",
      observedAt: new Date(T0 + (input.sent ?? input.at) * S),
      source: "webhook",
      evidence: "push",
      livestreamId: null,
      title: input.metadata,
      category: input.category ?? null,
    };
  }
  if ("poll" in input) {
    return {
      ...base,
      status: "online",
      observedAt: new Date(T0),
      source: "poll",
      evidence: "poll",
      livestreamId: null,
      streamStartedAt: new Date(T0 + (input.started ?? 0) * S),
      title: input.poll,
      category: input.category ?? null,
    };
  }
  return {
    ...base,
    status: "offline",
    observedAt: at,
    source: "poll",
    evidence: "poll",
    livestreamId: null,
    title: null,
  };
}

/** Runs inputs through a pipeline (one streamer, offline, grace 10 s) and returns its title transitions. */
function run(inputs: Input[], options: { pollIntervalMs?: number } = {}): Transition[] {
  const pipeline = new Pipeline({ offlineGraceMs: 10 * S, pollIntervalMs: options.pollIntervalMs });
  pipeline.sync([{
    slug: "xqc",
    status: "offline",
    statusChangedAt: new Date(T0 - 3600 * S),
    session: null,
  }]);
  const out: Transition[] = [];
  for (const input of inputs) {
    const ts = "tick" in input
      ? pipeline.tick(T0 + input.at * S)
      : pipeline.ingest(observationOf(input));
    out.push(...ts);
  }
  return out.filter((t) => t.type === "title");
}

/** The recorded changes as "title@seconds" (and "/category" when one is set). */
function summary(ts: Transition[]): string[] {
  return ts.map((t) =>
    `${t.title}${t.category === null ? "" : `/${t.category}`}@${
      (t.occurredAt.getTime() - T0) / S
    }:${t.source}`
  );
}

const go: Input = { at: 0, push: "online", title: "A" };

const TABLE: { name: string; inputs: Input[]; expect: string[]; pollIntervalMs?: number }[] = [
  {
    name: "a metadata push is recorded at once, dated when sent",
    inputs: [go, { at: 30, metadata: "B", category: "Chess", sent: 29 }],
    expect: ["B/Chess@29:webhook"],
  },
  {
    name: "a repeated metadata push records nothing",
    inputs: [go, { at: 30, metadata: "B" }, { at: 31, metadata: "B" }],
    expect: ["B@30:webhook"],
  },
  {
    name: "a late delivery of an older title is ignored",
    inputs: [go, { at: 30, metadata: "B" }, { at: 40, metadata: "C" }, {
      at: 45,
      metadata: "B",
      sent: 30,
    }],
    expect: ["B@30:webhook", "C@40:webhook"],
  },
  {
    name: "a poll change needs a second answer, dated at the first",
    inputs: [go, { at: 20, poll: "A" }, { at: 25, poll: "B" }, { at: 30, poll: "B" }],
    expect: ["B@25:poll"],
  },
  {
    name: "a one-answer flicker records nothing",
    inputs: [go, { at: 20, poll: "A" }, { at: 25, poll: "B" }, { at: 30, poll: "A" }, {
      at: 35,
      poll: "A",
    }],
    expect: [],
  },
  {
    name: "two different answers are two suspects, not a change",
    inputs: [go, { at: 25, poll: "B" }, { at: 30, poll: "C" }],
    expect: [],
  },
  {
    name: "the poll never flips back to the old title just after a push",
    pollIntervalMs: POLL,
    inputs: [go, { at: 30, metadata: "B" }, { at: 31, poll: "A" }, { at: 33, poll: "A" }, {
      at: 40,
      poll: "B",
    }],
    expect: ["B@30:webhook"],
  },
  {
    name: "after the shield, a poll that holds is believed again",
    pollIntervalMs: POLL,
    inputs: [go, { at: 30, metadata: "B" }, { at: 40, poll: "C" }, { at: 45, poll: "C" }],
    expect: ["B@30:webhook", "C@40:poll"],
  },
  {
    name: "the API's cache of the go-live title right after a push go-live is ignored",
    pollIntervalMs: POLL,
    inputs: [{ at: 0, push: "online", title: "new" }, { at: 1, poll: "old" }, {
      at: 3,
      poll: "old",
    }],
    expect: [],
  },
  {
    name: "two quick lagging answers showing the title before a poll go-live's are the API's cache",
    pollIntervalMs: POLL,
    inputs: [{ at: 0, poll: "new" }, { at: 1, poll: "old" }, { at: 1.2, poll: "old" }],
    expect: [],
  },
  {
    name: "no change at go-live: the online event carries the title",
    inputs: [{ at: 0, poll: "A" }, { at: 5, poll: "A" }],
    expect: [],
  },
  {
    name: "a category the go-live did not give is learned, not a change",
    inputs: [go, { at: 20, poll: "A", category: "Chess" }, {
      at: 25,
      poll: "A",
      category: "Chess",
    }],
    expect: [],
  },
  {
    name: "a category change is a change",
    inputs: [
      go,
      { at: 20, poll: "A", category: "Chess" },
      { at: 25, poll: "A", category: "Slots" },
      { at: 30, poll: "A", category: "Slots" },
    ],
    expect: ["A/Slots@25:poll"],
  },
  {
    name: "nothing while offline",
    inputs: [{ at: 0, metadata: "B" }, { at: 1, poll: "B" }],
    expect: [],
  },
  {
    name: "nothing once an offline is pending or recorded",
    inputs: [go, { at: 20, push: "offline" }, { at: 21, metadata: "B" }, { at: 40, tick: true }, {
      at: 41,
      metadata: "C",
    }],
    expect: [],
  },
  {
    name: "a new session starts from its own go-live title",
    inputs: [
      go,
      { at: 20, push: "offline" },
      { at: 40, tick: true },
      { at: 50, pollOffline: true },
      { at: 60, push: "online", title: "Z" },
      { at: 70, metadata: "Z" },
    ],
    expect: [],
  },
  {
    name: "a poll answer about another broadcast is its go-live title, not a change",
    inputs: [go, { at: 20, poll: "B", started: 15 }, { at: 25, poll: "B", started: 15 }, {
      at: 30,
      poll: "C",
      started: 15,
    }, { at: 35, poll: "C", started: 15 }],
    expect: ["C@30:poll"],
  },
  {
    name: "Pusher's and the API's start times differing by seconds are one broadcast",
    inputs: [go, { at: 20, poll: "B", started: 3 }, { at: 25, poll: "B", started: 3 }],
    expect: ["B@20:poll"],
  },
  {
    name:
      "a poll answer without the title is no evidence: a retitle with a new category is one change",
    inputs: [
      go,
      { at: 10, poll: "A", category: "C1" },
      { at: 20, poll: null, category: "C2" },
      { at: 23, poll: null, category: "C2" },
      { at: 26, poll: "B", category: "C2" },
      { at: 29, poll: "B", category: "C2" },
    ],
    expect: ["B/C2@26:poll"],
  },
  {
    name: "a poll answer without the category is no evidence either: no change recorded twice",
    inputs: [
      go,
      { at: 10, poll: "A", category: "C1" },
      { at: 20, poll: "B" },
      { at: 23, poll: "B" },
      { at: 26, poll: "B", category: "C2" },
      { at: 29, poll: "B", category: "C2" },
    ],
    expect: ["B/C2@26:poll"],
  },
  {
    name: "a partial answer between two whole ones does not break their agreement",
    inputs: [
      go,
      { at: 10, poll: "A", category: "C1" },
      { at: 20, poll: "B", category: "C1" },
      { at: 23, poll: null, category: "C1" },
      { at: 26, poll: "B", category: "C1" },
    ],
    expect: ["B/C1@20:poll"],
  },
];

for (const row of TABLE) {
  Deno.test(`title rules: ${row.name}`, () => {
    assert.deepEqual(summary(run(row.inputs, { pollIntervalMs: row.pollIntervalMs })), row.expect);
  });
}

Deno.test("title rules: a change's dedupe key is stable, so a journal replay records nothing twice", () => {
  const [t] = run([go, { at: 30, metadata: "B" }]);
  assert.equal(t.dedupeKey, titleDedupeKey("xqc", LIVESTREAM, new Date(T0 + 30 * S)));
  assert.equal(t.livestreamId, LIVESTREAM);
  assert.equal(t.baseline, false);
});

Deno.test("title rules: not live records nothing, whatever the evidence", () => {
  const state = titleAtGoLive({ title: "A", category: null, livestreamId: 1 }, {
    since: new Date(T0),
    receivedAt: new Date(T0),
  });
  const step = observeTitle(state, observationOf({ at: 30, metadata: "B" }), { live: false });
  assert.deepEqual(step.transitions, []);
  assert.equal(step.state, state);
});

Deno.test("title rules: a restarted monitor seeds the title from the open session", () => {
  const pipeline = new Pipeline({ offlineGraceMs: 10 * S });
  pipeline.sync([{
    slug: "xqc",
    status: "online",
    statusChangedAt: new Date(T0),
    session: { livestreamId: LIVESTREAM, startedAt: new Date(T0), title: "A", category: "Chess" },
  }]);
  assert.deepEqual(pipeline.ingest(observationOf({ at: 20, poll: "A", category: "Chess" })), []);
  assert.deepEqual(
    pipeline.ingest(observationOf({ at: 25, metadata: "A", category: "Chess" })),
    [],
  );
  const [t] = pipeline.ingest(observationOf({ at: 30, metadata: "B" }));
  assert.equal(t.type, "title");
  assert.equal(t.category, "Chess");
});

Deno.test("title rules: a journaled title change seeds a restarted monitor", () => {
  const pipeline = new Pipeline({ offlineGraceMs: 10 * S });
  const before = new Pipeline({ offlineGraceMs: 0 });
  before.sync([{
    slug: "xqc",
    status: "offline",
    statusChangedAt: new Date(T0 - S),
    session: null,
  }]);
  const [online] = before.ingest(observationOf(go));
  pipeline.resumeFrom([
    { ...online, type: "online", baseline: false },
    {
      ...online,
      type: "title",
      title: "B",
      occurredAt: new Date(T0 + 30 * S),
      dedupeKey: "x",
    },
  ]);
  pipeline.sync([{
    slug: "xqc",
    status: "offline",
    statusChangedAt: new Date(T0 - S),
    session: null,
  }]);
  assert.equal(pipeline.stateOf("xqc")?.status, "online");
  // The poll now says B twice: already recorded (journaled), so nothing new.
  assert.deepEqual(pipeline.ingest(observationOf({ at: 40, poll: "B" })), []);
  assert.deepEqual(pipeline.ingest(observationOf({ at: 45, poll: "B" })), []);
});

Deno.test("title rules: a journaled title change keeps its broadcast's start, so a lagging answer is no new broadcast", () => {
  // Killed after journaling B and before committing it: the database still has the session with A.
  const pipeline = new Pipeline({ offlineGraceMs: 10 * S });
  pipeline.resumeFrom([{
    slug: "xqc",
    type: "title",
    title: "B",
    category: null,
    livestreamId: LIVESTREAM,
    occurredAt: new Date(T0 + 30 * S),
    receivedAt: new Date(T0 + 30 * S),
    source: "poll",
    baseline: false,
    raw: null,
    dedupeKey: "x",
  }]);
  pipeline.sync([{
    slug: "xqc",
    status: "online",
    statusChangedAt: new Date(T0),
    session: { livestreamId: LIVESTREAM, startedAt: new Date(T0), title: "A", category: null },
  }]);
  // The API's cache still shows A once, then B: B was recorded already, so nothing is (found by the soak with
  // Kick's habits: the journaled change's time taken for the broadcast's start made the lagging answer a "new
  // broadcast" whose title A was learned silently, and B was then recorded a second time).
  assert.deepEqual(pipeline.ingest(observationOf({ at: 40, poll: "A" })), []);
  assert.deepEqual(pipeline.ingest(observationOf({ at: 45, poll: "B" })), []);
  assert.deepEqual(pipeline.ingest(observationOf({ at: 50, poll: "B" })), []);
});

Deno.test("title rules: a suspected title is asked about again like a suspected status", () => {
  const pipeline = new Pipeline({ offlineGraceMs: 10 * S });
  pipeline.sync([{
    slug: "xqc",
    status: "offline",
    statusChangedAt: new Date(T0 - S),
    session: null,
  }]);
  pipeline.ingest(observationOf(go));
  pipeline.ingest(observationOf({ at: 25, poll: "B" }));
  assert.deepEqual(pipeline.followUps(T0 + 25 * S, 2 * S), [{ slug: "xqc", dueAt: T0 + 27 * S }]);
});

// ---- Property: a ground truth of title changes, seen through a lagging, flickering poll and lossy webhooks ----

const world = fc.record({
  /** Seconds between changes (the first change after go-live). */
  gaps: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
  /** Per poll: how far behind the truth the API's cache is, in ms (less than a poll interval). */
  lags: fc.array(fc.integer({ min: 0, max: POLL - 100 }), { minLength: 120, maxLength: 120 }),
  /** Per poll: a one-answer flicker back to the previous title (never twice in a row). */
  flickers: fc.array(fc.boolean(), { minLength: 120, maxLength: 120 }),
  /** Per change: the webhook is delivered; and delivered again late. */
  delivered: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  repeated: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
});

Deno.test("title rules: property: no false, repeated or backward change; the last title is reached", () => {
  fc.assert(
    fc.property(world, ({ gaps, lags, flickers, delivered, repeated }) => {
      const titles = ["T0", ...gaps.map((_, i) => `T${i + 1}`)];
      const changeAt: number[] = [0];
      for (const gap of gaps) changeAt.push(changeAt[changeAt.length - 1] + gap * S);
      const truthAt = (ms: number) => {
        let index = 0;
        while (index + 1 < changeAt.length && changeAt[index + 1] <= ms) index++;
        return index;
      };
      const events: { at: number; input: Input }[] = [{
        at: 0,
        input: { at: 0, push: "online", title: "T0" },
      }];
      gaps.forEach((_, i) => {
        const at = changeAt[i + 1];
        if (delivered[i]) {
          events.push({
            at: at + 200,
            input: { at: (at + 200) / S, metadata: titles[i + 1], sent: at / S },
          });
        }
        if (repeated[i]) {
          const late = at + 20 * S;
          events.push({ at: late, input: { at: late / S, metadata: titles[i + 1], sent: at / S } });
        }
      });
      const end = changeAt[changeAt.length - 1] + 60 * S;
      let flickered = false;
      for (let n = 1; n * POLL <= end; n++) {
        const at = n * POLL + 50;
        let index = truthAt(at - lags[n % lags.length]);
        // The API settles once the changes are over: the last 40 s answer the truth, lagging only.
        const settled = at > end - 40 * S;
        const flicker: boolean = flickers[n % flickers.length] && !flickered && index > 0 &&
          !settled;
        if (flicker) index--;
        flickered = flicker;
        events.push({ at, input: { at: at / S, poll: titles[index] } });
      }
      events.sort((a, b) => a.at - b.at);
      const recorded = run(events.map((e) => e.input), { pollIntervalMs: POLL });
      const indices = recorded.map((t) => titles.indexOf(t.title ?? ""));
      // Every recorded title is one the truth had, in the truth's order, each once, never back.
      for (let i = 0; i < indices.length; i++) {
        assert.ok(indices[i] > 0, `recorded ${recorded[i].title}, not a change`);
        if (i > 0) assert.ok(indices[i] > indices[i - 1], `went back: ${indices.join(",")}`);
        // Never dated before the change it records.
        assert.ok(recorded[i].occurredAt.getTime() >= T0 + changeAt[indices[i]]);
      }
      // The poll settles on the truth's last title: it is recorded.
      assert.equal(indices.at(-1) ?? 0, titles.length - 1);
    }),
    { numRuns: 300 },
  );
});
