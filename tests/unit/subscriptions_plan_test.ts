/** The subscription planner (kick-api.md §1.8, §1.9.5): tables, then a property check against a reference. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type EventSubscription,
  MONITOR_EVENTS,
  type PlanOptions,
  planSubscriptionSync,
  type SubscriptionPlan,
} from "../../src/kick/subscriptions.ts";

const STATUS = "livestream.status.updated";
const META = "livestream.metadata.updated";
let nextId = 0;

function sub(
  broadcasterUserId: number,
  event: string,
  change: Partial<EventSubscription> = {},
): EventSubscription {
  nextId++;
  return {
    id: `01J${String(nextId).padStart(23, "0")}`,
    broadcasterUserId,
    event,
    version: 1,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, nextId)),
    ...change,
  };
}

const both = [{ name: STATUS, version: 1 }, { name: META, version: 1 }];

interface PlanCase {
  name: string;
  wanted: number[];
  listed: EventSubscription[];
  options?: PlanOptions;
  expected: (listed: EventSubscription[]) => SubscriptionPlan;
}

const cases: PlanCase[] = [
  {
    name: "nothing listed: both events for every streamer, one request each",
    wanted: [1, 2],
    listed: [],
    expected: () => ({
      create: [{ broadcasterUserId: 1, events: both }, { broadcasterUserId: 2, events: both }],
      delete: [],
      awaiting: [],
    }),
  },
  {
    name: "everything listed once: nothing to do",
    wanted: [1],
    listed: [sub(1, STATUS), sub(1, META)],
    expected: () => ({ create: [], delete: [], awaiting: [] }),
  },
  {
    name: "one event missing (Kick unsubscribed it, §1.9.5): only that one is created",
    wanted: [1],
    listed: [sub(1, META)],
    expected: () => ({
      create: [{ broadcasterUserId: 1, events: [{ name: STATUS, version: 1 }] }],
      delete: [],
      awaiting: [],
    }),
  },
  {
    name: "duplicates: the oldest is kept, the others deleted",
    wanted: [1],
    listed: [
      sub(1, STATUS, { createdAt: new Date("2026-01-02T00:00:00Z") }),
      sub(1, STATUS, { createdAt: new Date("2026-01-01T00:00:00Z") }),
      sub(1, STATUS, { createdAt: null }),
      sub(1, META),
    ],
    expected: (l) => ({ create: [], delete: [l[0].id, l[2].id], awaiting: [] }),
  },
  {
    name: "a removed streamer's subscriptions are deleted",
    wanted: [1],
    listed: [sub(1, STATUS), sub(1, META), sub(9, STATUS), sub(9, META)],
    expected: (l) => ({ create: [], delete: [l[2].id, l[3].id], awaiting: [] }),
  },
  {
    name: "…unless deleteUnwanted is false (subscribing some streamers only)",
    wanted: [1],
    listed: [sub(9, STATUS), sub(9, META)],
    options: { deleteUnwanted: false },
    expected: () => ({
      create: [{ broadcasterUserId: 1, events: both }],
      delete: [],
      awaiting: [],
    }),
  },
  {
    name: "other events and versions are never touched (the app may serve more than this monitor)",
    wanted: [1],
    listed: [
      sub(1, "chat.message.sent"),
      sub(9, "chat.message.sent"),
      sub(9, STATUS, { version: 2 }),
    ],
    expected: () => ({
      create: [{ broadcasterUserId: 1, events: both }],
      delete: [],
      awaiting: [],
    }),
  },
  {
    name: "just created and not listed yet: one listing's grace, not created twice",
    wanted: [1],
    listed: [sub(1, META)],
    options: { recentlyCreated: [{ broadcasterUserId: 1, event: STATUS, version: 1 }] },
    expected: () => ({
      create: [],
      delete: [],
      awaiting: [{ broadcasterUserId: 1, event: STATUS, version: 1 }],
    }),
  },
  {
    name: "just created and listed: nothing awaits",
    wanted: [1],
    listed: [sub(1, STATUS), sub(1, META)],
    options: { recentlyCreated: [{ broadcasterUserId: 1, event: STATUS, version: 1 }] },
    expected: () => ({ create: [], delete: [], awaiting: [] }),
  },
  {
    name: "status only, when asked",
    wanted: [1, 1, 2],
    listed: [sub(2, META)],
    options: { events: [{ name: STATUS, version: 1 }] },
    expected: () => ({
      create: [
        { broadcasterUserId: 1, events: [{ name: STATUS, version: 1 }] },
        { broadcasterUserId: 2, events: [{ name: STATUS, version: 1 }] },
      ],
      // Not wanted any more: the monitor no longer subscribes to metadata.
      delete: [],
      awaiting: [],
    }),
  },
  {
    name: "nobody wanted: every subscription of the monitor's events goes",
    wanted: [],
    listed: [sub(1, STATUS), sub(2, META), sub(3, "kicks.gifted")],
    expected: (l) => ({ create: [], delete: [l[0].id, l[1].id], awaiting: [] }),
  },
];

for (const c of cases) {
  Deno.test(`subscription plan: ${c.name}`, () => {
    assert.deepEqual(planSubscriptionSync(c.wanted, c.listed, c.options), c.expected(c.listed));
  });
}

Deno.test("subscription plan: applying the plan leaves exactly one of each wanted subscription", () => {
  const ids = fc.integer({ min: 1, max: 6 });
  const listedArb = fc.array(
    fc.record({
      broadcasterUserId: ids,
      event: fc.constantFrom(STATUS, META, "chat.message.sent"),
      version: fc.constantFrom(1, 1, 1, 2),
      createdAt: fc.option(fc.integer({ min: 0, max: 1000 }).map((s) => new Date(s * 1000))),
    }),
    { maxLength: 20 },
  );
  fc.assert(
    fc.property(fc.array(ids, { maxLength: 6 }), listedArb, (wanted, raw) => {
      const listed: EventSubscription[] = raw.map((r, i) => ({
        ...r,
        id: `id${String(i).padStart(3, "0")}`,
      }));
      const plan = planSubscriptionSync(wanted, listed);
      // Apply it, as Kick would.
      const gone = new Set(plan.delete);
      const after: EventSubscription[] = listed.filter((s) => !gone.has(s.id));
      for (const c of plan.create) {
        for (const e of c.events) {
          after.push({
            id: "new",
            broadcasterUserId: c.broadcasterUserId,
            event: e.name,
            version: e.version,
            createdAt: null,
          });
        }
      }
      // Reference: per (broadcaster, monitor event v1), exactly one if wanted, none if not.
      for (const id of [1, 2, 3, 4, 5, 6]) {
        for (const kind of MONITOR_EVENTS) {
          const count = after.filter((s) =>
            s.broadcasterUserId === id && s.event === kind.name && s.version === kind.version
          ).length;
          assert.equal(count, wanted.includes(id) ? 1 : 0, `${id} ${kind.name}`);
        }
      }
      // Everything else is untouched, and only listed ids are deleted.
      const ours = (s: { event: string; version: number }) =>
        MONITOR_EVENTS.some((k) => k.name === s.event && k.version === s.version);
      for (const s of listed.filter((s) => !ours(s))) assert.ok(!gone.has(s.id));
      for (const id of plan.delete) assert.ok(listed.some((s) => s.id === id));
    }),
  );
});
