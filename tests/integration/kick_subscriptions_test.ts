/** KickApi's event subscription calls (kick-api.md §1.8) against the simulated Kick, faults included. */
import assert from "node:assert/strict";
import { rejection, withRig } from "./kick_rig.ts";
import {
  MONITOR_EVENTS,
  planSubscriptionSync,
  SubscriptionLimitError,
  WebhooksNotEnabledError,
} from "../../src/kick/subscriptions.ts";
import { KickResponseError } from "../../src/kick/errors.ts";
import { exitCodeOf } from "../../src/lib/errors.ts";

const STATUS = "livestream.status.updated";

Deno.test("subscriptions: create, list and delete round-trip through the §1.8 shapes", async () => {
  await withRig({}, async ({ api, fake }) => {
    const created = await api.createEventSubscriptions(676, MONITOR_EVENTS);
    assert.deepEqual([...created.keys()], MONITOR_EVENTS.map((e) => e.name));
    const listed = await api.listEventSubscriptions();
    assert.equal(listed.length, 2);
    assert.ok(listed.every((s) => s.broadcasterUserId === 676 && s.version === 1));
    assert.equal(listed.find((s) => s.event === STATUS)?.id, created.get(STATUS));
    assert.ok(listed.every((s) => s.createdAt instanceof Date));
    await api.deleteEventSubscriptions(listed.map((s) => s.id));
    assert.deepEqual(await api.listEventSubscriptions(), []);
    const posts = fake.requestsTo("subscriptions").filter((r) => r.method === "POST");
    assert.equal(posts.length, 1);
    assert.equal(posts[0].status, 200);
  });
});

Deno.test("subscriptions: deleting 120 ids takes three requests of at most 50", async () => {
  await withRig({}, async ({ api, fake }) => {
    for (let id = 1; id <= 60; id++) await api.createEventSubscriptions(id, MONITOR_EVENTS);
    const listed = await api.listEventSubscriptions();
    assert.equal(listed.length, 120);
    await api.deleteEventSubscriptions(listed.map((s) => s.id));
    assert.equal(fake.subscriptions.subscriptions.length, 0);
    const deletes = fake.requestsTo("subscriptions").filter((r) => r.method === "DELETE");
    assert.equal(deletes.length, 3);
    assert.ok(deletes.every((r) => r.status === 204));
  });
});

Deno.test("subscriptions: the limit is a SubscriptionLimitError that says what to do", async () => {
  await withRig({ fake: { webhooks: { limit: 3 } } }, async ({ api }) => {
    await api.createEventSubscriptions(1, MONITOR_EVENTS);
    const error = await rejection(api.createEventSubscriptions(2, MONITOR_EVENTS));
    assert.ok(error instanceof SubscriptionLimitError, String(error));
    assert.equal(exitCodeOf(error), 1);
    assert.match(error.message, /limit is reached.*webhooks unsubscribe SLUG.*raise the limit/);
  });
});

Deno.test("subscriptions: webhooks not enabled on the app is a configuration error (78)", async () => {
  await withRig({}, async ({ api, fake }) => {
    fake.subscriptions.webhooksEnabled = false;
    const error = await rejection(api.createEventSubscriptions(1, MONITOR_EVENTS));
    assert.ok(error instanceof WebhooksNotEnabledError, String(error));
    assert.equal(exitCodeOf(error), 78);
    assert.match(error.message, /kick\.com\/settings\/developer/);
  });
});

Deno.test("subscriptions: an unknown event name is a KickResponseError quoting Kick", async () => {
  await withRig({}, async ({ api }) => {
    const error = await rejection(
      api.createEventSubscriptions(1, [{ name: "livestream.exploded", version: 1 }]),
    );
    assert.ok(error instanceof KickResponseError, String(error));
    assert.match(error.message, /HTTP 400.*Invalid event name/);
  });
});

Deno.test("subscriptions: an expired token is re-minted once, for POST and DELETE too", async () => {
  await withRig({}, async ({ api, fake }) => {
    await api.listEventSubscriptions();
    fake.expireTokens();
    await api.createEventSubscriptions(5, MONITOR_EVENTS);
    fake.expireTokens();
    await api.deleteEventSubscriptions(fake.subscriptions.subscriptions.map((s) => s.id));
    assert.equal(fake.subscriptions.subscriptions.length, 0);
    assert.equal(fake.stats.tokensIssued, 3);
  });
});

Deno.test("subscriptions: a lagging listing and a duplicate are settled by the planner in two rounds", async () => {
  await withRig({ fake: { webhooks: { lagListing: true } } }, async ({ api, fake }) => {
    fake.subscriptions.duplicateNextCreates = 1;
    // Round 1: nothing listed; create both for 1 and 2.
    let plan = planSubscriptionSync([1, 2], await api.listEventSubscriptions());
    const recentlyCreated = [];
    for (const c of plan.create) {
      await api.createEventSubscriptions(c.broadcasterUserId, c.events);
      for (const e of c.events) {
        recentlyCreated.push({
          broadcasterUserId: c.broadcasterUserId,
          event: e.name,
          version: e.version,
        });
      }
    }
    // Round 2: the listing lags every new one: nothing is created again.
    plan = planSubscriptionSync([1, 2], await api.listEventSubscriptions(), { recentlyCreated });
    assert.deepEqual(plan.create, []);
    assert.equal(plan.awaiting.length, 4);
    // Round 3: all listed now, the duplicates of broadcaster 1 are deleted.
    plan = planSubscriptionSync([1, 2], await api.listEventSubscriptions());
    assert.deepEqual(plan.create, []);
    assert.equal(plan.delete.length, 2);
    await api.deleteEventSubscriptions(plan.delete);
    assert.equal(fake.subscriptions.subscriptions.length, 4);
    assert.deepEqual(planSubscriptionSync([1, 2], await api.listEventSubscriptions()), {
      create: [],
      delete: [],
      awaiting: [],
    });
  });
});
