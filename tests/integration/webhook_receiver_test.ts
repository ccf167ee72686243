/**
 * The webhook receiver on a real listener, fed by the simulated Kick's signed deliveries (src/sim/webhooks.ts):
 * answers, duplicates, drops and delays, refusals, and the real §1.9.4 delivery.
 */
import assert from "node:assert/strict";
import { configureLogging } from "../../src/lib/log.ts";
import {
  type CountedRequest,
  type ReceivedDelivery,
  startWebhookReceiver,
  type WebhookReceiver,
} from "../../src/kick/webhook_receiver.ts";
import {
  toWebhookObservation,
  type WebhookEvent,
  type WebhookStatusEvent,
} from "../../src/kick/webhook_events.ts";
import { planSubscriptionSync } from "../../src/kick/subscriptions.ts";
import { resolveWebhookKeys } from "../../src/kick/webhook_key.ts";
import { withRig } from "./kick_rig.ts";
import { fixedKeyVerifier, importWebhookPublicKey } from "../../src/kick/webhook_signature.ts";
import { KICK_WEBHOOK_PUBLIC_KEY_PEM } from "../../src/kick/public_key.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import {
  FakeEventSubscriptions,
  type FakeWebhookSenderOptions,
  generateWebhookSigningKey,
  newUlid,
  signWebhook,
  startFakeWebhookSender,
} from "../../src/sim/webhooks.ts";
import { waitFor } from "../helpers/cli.ts";

configureLogging({ write: () => {}, format: "json", level: "error" });

const kick = await generateWebhookSigningKey();
const verifier = fixedKeyVerifier(await importWebhookPublicKey(kick.publicKeyPem));

interface Rig {
  world: FakeWorld;
  receiver: WebhookReceiver;
  events: { event: WebhookEvent; delivery: ReceivedDelivery }[];
  counted: CountedRequest[];
}

async function withReceiver(
  options: {
    onEvent?: (event: WebhookEvent, delivery: ReceivedDelivery) => void | Promise<void>;
    now?: () => Date;
    keys?: typeof verifier;
  },
  test: (rig: Rig) => Promise<void>,
): Promise<void> {
  const world = new FakeWorld();
  world.addStreamer("alice", { broadcasterUserId: 1001 });
  world.addStreamer("bob", { broadcasterUserId: 1002 });
  const events: Rig["events"] = [];
  const counted: CountedRequest[] = [];
  const receiver = startWebhookReceiver({
    listen: { hostname: "127.0.0.1", port: 0 },
    path: "/kick/webhook",
    maxAgeSeconds: 300,
    keys: options.keys ?? verifier,
    onEvent: (event, delivery) => {
      events.push({ event, delivery });
      return options.onEvent?.(event, delivery);
    },
    onCounted: (request) => counted.push(request),
    now: options.now,
  });
  try {
    await test({ world, receiver, events, counted });
  } finally {
    await receiver.close();
  }
}

function sender(rig: Rig, extra: Partial<FakeWebhookSenderOptions> = {}) {
  return startFakeWebhookSender({
    world: rig.world,
    targetUrl: rig.receiver.url,
    privateKey: kick.privateKey,
    ...extra,
  });
}

Deno.test("webhook receiver: a world change arrives as a parsed, signed event within a second", async () => {
  await withReceiver({}, async (rig) => {
    const s = sender(rig);
    try {
      const started = Date.now();
      const live = rig.world.goLive("alice", { title: "hello" });
      await s.settled();
      assert.ok(Date.now() - started < 1000);
      rig.world.goOffline("alice", new Date(live.startedAt.getTime() + 60_000));
      await s.settled();
      assert.deepEqual(s.deliveries.map((d) => d.status), [200, 200]);
      assert.equal(rig.events.length, 2);
      const [online, offline] = rig.events.map((e) => e.event as WebhookStatusEvent);
      assert.equal(online.broadcasterUserId, 1001);
      assert.equal(online.channelSlug, "alice");
      assert.equal(online.isLive, true);
      assert.equal(online.title, "hello");
      assert.equal(online.startedAt?.getTime(), live.startedAt.getTime());
      assert.equal(offline.isLive, false);
      assert.equal(offline.endedAt?.getTime(), live.startedAt.getTime() + 60_000);
      const delivery = rig.events[0].delivery;
      assert.equal(delivery.messageId, s.deliveries[0].messageId);
      assert.equal(delivery.duplicate, false);
      assert.equal(delivery.type, "livestream.status.updated");
      assert.ok(delivery.subscriptionId !== null);
      assert.equal(JSON.parse(delivery.body).broadcaster.user_id, 1001);
      assert.equal(rig.receiver.stats.accepted, 2);
      assert.ok(rig.receiver.stats.lastAcceptedAt instanceof Date);
    } finally {
      await s.close();
    }
  });
});

Deno.test("webhook receiver: a redelivery under the same id is flagged; under a new id it is not (§1.9.5)", async () => {
  await withReceiver({}, async (rig) => {
    const s = sender(rig);
    try {
      s.injectFault({ kind: "duplicate", newId: false });
      rig.world.goLive("alice");
      await s.settled();
      s.injectFault({ kind: "duplicate", newId: true });
      rig.world.goLive("bob");
      await s.settled();
      assert.equal(rig.events.length, 4);
      const alice = rig.events.filter((e) => e.delivery.body.includes('"alice"'));
      assert.equal(alice[0].delivery.messageId, alice[1].delivery.messageId);
      assert.deepEqual(alice.map((e) => e.delivery.duplicate).sort(), [false, true]);
      const bob = rig.events.filter((e) => e.delivery.body.includes('"bob"'));
      assert.notEqual(bob[0].delivery.messageId, bob[1].delivery.messageId);
      assert.deepEqual(bob.map((e) => e.delivery.duplicate), [false, false]);
      assert.equal(rig.receiver.stats.duplicates, 1);
      assert.ok(s.deliveries.every((d) => d.status === 200));
    } finally {
      await s.close();
    }
  });
});

Deno.test("webhook receiver: dropped events never arrive, delayed ones arrive late", async () => {
  await withReceiver({}, async (rig) => {
    const s = sender(rig);
    try {
      s.injectFault({ kind: "drop" });
      rig.world.goLive("alice");
      s.injectFault({ kind: "delay", delayMs: 300 });
      rig.world.goLive("bob");
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(rig.events.length, 0);
      await s.settled();
      assert.equal(rig.events.length, 1);
      assert.equal((rig.events[0].event as WebhookStatusEvent).broadcasterUserId, 1002);
      assert.deepEqual(s.deliveries.map((d) => d.dropped), [true, false]);
    } finally {
      await s.close();
    }
  });
});

Deno.test("webhook receiver: rates of drops and duplicates (seeded) are all accounted for", async () => {
  await withReceiver({}, async (rig) => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const s = sender(rig, {
      dropRate: 0.2,
      duplicateRate: 0.3,
      random,
      delayMs: { min: 0, max: 20 },
    });
    try {
      for (let i = 0; i < 20; i++) {
        rig.world.goLive("alice");
        rig.world.goOffline("alice");
      }
      await s.settled();
      const sent = s.deliveries.filter((d) => !d.dropped);
      assert.equal(rig.events.length, sent.length);
      assert.ok(s.deliveries.some((d) => d.dropped));
      assert.ok(s.deliveries.some((d) => d.duplicateOf !== null));
      const flagged = rig.events.filter((e) => e.delivery.duplicate).length;
      const sameId = sent.filter((d) => d.duplicateOf === d.messageId).length;
      assert.equal(flagged, sameId);
    } finally {
      await s.close();
    }
  });
});

Deno.test("webhook receiver: only subscribed broadcasters get deliveries, with their subscription id", async () => {
  await withReceiver({}, async (rig) => {
    const subscriptions = new FakeEventSubscriptions();
    subscriptions.handle(
      "POST",
      new URL("http://x/"),
      JSON.stringify({
        broadcaster_user_id: 1001,
        events: [{ name: "livestream.status.updated", version: 1 }],
        method: "webhook",
      }),
    );
    const s = sender(rig, { subscriptions });
    try {
      rig.world.goLive("alice");
      rig.world.goLive("bob");
      await s.settled();
      assert.equal(rig.events.length, 1);
      assert.equal(
        rig.events[0].delivery.subscriptionId,
        subscriptions.subscriptionFor(1001, "livestream.status.updated"),
      );
      assert.equal(s.deliveries[1].error, "not subscribed");
    } finally {
      await s.close();
    }
  });
});

Deno.test("webhook receiver: 200 only after onEvent; a failing onEvent answers 500 and a retry is not a duplicate", async () => {
  let failures = 1;
  await withReceiver({
    onEvent: async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (failures-- > 0) throw new Error("journal full");
    },
  }, async (rig) => {
    const s = sender(rig, { maxAttempts: 3 });
    try {
      rig.world.goLive("alice");
      await s.settled();
      assert.equal(s.deliveries[0].attempts, 2);
      assert.equal(s.deliveries[0].status, 200);
      assert.equal(rig.events.length, 2);
      assert.deepEqual(rig.events.map((e) => e.delivery.duplicate), [false, false]);
      assert.equal(rig.receiver.stats.failed, 1);
      assert.equal(rig.receiver.stats.accepted, 1);
    } finally {
      await s.close();
    }
  });
});

Deno.test("webhook receiver: a delivery signed by another key is refused (401) and not passed on", async () => {
  await withReceiver({}, async (rig) => {
    const forger = await generateWebhookSigningKey();
    const s = sender(rig, { privateKey: forger.privateKey });
    try {
      rig.world.goLive("alice");
      await s.settled();
      assert.equal(s.deliveries[0].status, 401);
      assert.equal(rig.events.length, 0);
      assert.deepEqual(rig.counted.map((c) => [c.status, c.outcome]), [[401, "refused"]]);
      assert.equal(rig.receiver.stats.refused[401], 1);
    } finally {
      await s.close();
    }
  });
});

async function post(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
) {
  const response = await fetch(url, { method: init.method ?? "POST", ...init });
  return { status: response.status, body: await response.json() };
}

async function signedHeaders(body: string, change: { type?: string; age?: number } = {}) {
  const messageId = newUlid();
  const timestamp = new Date(Date.now() - (change.age ?? 0) * 1000).toISOString()
    .replace(/\.\d+Z$/, "Z");
  return {
    "Kick-Event-Message-Id": messageId,
    "Kick-Event-Message-Timestamp": timestamp,
    "Kick-Event-Signature": await signWebhook(kick.privateKey, { messageId, timestamp, body }),
    "Kick-Event-Type": change.type ?? "livestream.status.updated",
    "Kick-Event-Version": "1",
  };
}

Deno.test("webhook receiver: refusals and ignored types, each answered and counted", async () => {
  await withReceiver({}, async (rig) => {
    const url = rig.receiver.url;
    const body = '{"broadcaster":{"user_id":1001},"is_live":false,"ended_at":null}';
    const cases: [string, Promise<{ status: number; body: unknown }>, number][] = [
      ["wrong path", post(url.replace("/kick/webhook", "/other"), { body }), 404],
      ["GET", post(url, { method: "GET" }), 405],
      ["no headers", post(url, { body }), 400],
      ["stale", post(url, { body, headers: await signedHeaders(body, { age: 301 }) }), 401],
      [
        "too large",
        post(url, { body: "x".repeat(70_000), headers: await signedHeaders("x") }),
        413,
      ],
      [
        "body not matching its type",
        post(url, { body: "{}", headers: await signedHeaders("{}") }),
        400,
      ],
      [
        "unknown type",
        post(url, { body: "{}", headers: await signedHeaders("{}", { type: "kicks.gifted" }) }),
        200,
      ],
      ["accepted", post(url, { body, headers: await signedHeaders(body) }), 200],
    ];
    for (const [name, request, status] of cases) {
      assert.equal((await request).status, status, name);
    }
    assert.equal(rig.events.length, 1);
    assert.deepEqual(
      // The requests run at once: their answers may be counted in any order.
      rig.counted.map((c) => `${c.status} ${c.outcome}`).sort(),
      [
        "200 ignored",
        "400 refused",
        "400 refused",
        "401 refused",
        "404 refused",
        "405 refused",
        "413 refused",
      ],
    );
    assert.equal(rig.counted.find((c) => c.outcome === "ignored")?.type, "kicks.gifted");
    assert.equal(rig.receiver.stats.ignored, 1);
  });
});

Deno.test("webhook receiver: Kick's real delivery (§1.9.4) is accepted with the documented key", async () => {
  const vector = JSON.parse(
    Deno.readTextFileSync(
      new URL("../fixtures/kick/webhook_status_updated.json", import.meta.url),
    ),
  ) as { headers: Record<string, string>; body: string };
  const documented = fixedKeyVerifier(await importWebhookPublicKey(KICK_WEBHOOK_PUBLIC_KEY_PEM));
  await withReceiver(
    { keys: documented, now: () => new Date("2025-04-01T07:56:20Z") },
    async (rig) => {
      const answer = await post(rig.receiver.url, { headers: vector.headers, body: vector.body });
      assert.equal(answer.status, 200);
      assert.equal(rig.events.length, 1);
      assert.equal(rig.events[0].delivery.messageId, "01JQR5KV0QC94HMETWYNBWRW4Z");
      assert.equal(rig.events[0].delivery.body, vector.body);
      // Kick delivering it again: 200, flagged.
      await post(rig.receiver.url, { headers: vector.headers, body: vector.body });
      await waitFor("the second delivery", () => rig.events.length === 2, 2000);
      assert.equal(rig.events[1].delivery.duplicate, true);
    },
  );
});

Deno.test("webhook parts together: subscribe through the API, key from Kick, deliveries → Observations", async () => {
  const world = new FakeWorld();
  world.addStreamer("alice", { broadcasterUserId: 1001 });
  world.addStreamer("bob", { broadcasterUserId: 1002 });
  await withRig({ world, fake: { webhooks: { signingKey: kick } } }, async ({ api, fake }) => {
    const monitored = new Map([[1001, "alice"]]);
    const plan = planSubscriptionSync([...monitored.keys()], await api.listEventSubscriptions());
    for (const c of plan.create) await api.createEventSubscriptions(c.broadcasterUserId, c.events);
    const keys = await resolveWebhookKeys({
      configured: undefined,
      fetchPublicKey: (signal) => api.getPublicKey(signal),
    });
    assert.equal(keys.source, "api");
    const observations: unknown[] = [];
    const receiver = startWebhookReceiver({
      listen: { hostname: "127.0.0.1", port: 0 },
      path: "/kick/webhook",
      maxAgeSeconds: 300,
      keys,
      onEvent: (event, delivery) => {
        if (event.type !== "livestream.status.updated" || delivery.duplicate) return;
        const observation = toWebhookObservation(event, {
          slugOf: (id) => monitored.get(id),
          receivedAt: delivery.receivedAt,
          sentAt: delivery.sentAt,
        });
        if (observation !== null) observations.push(observation);
      },
    });
    const s = startFakeWebhookSender({
      world,
      targetUrl: receiver.url,
      privateKey: kick.privateKey,
      subscriptions: fake.subscriptions,
    });
    try {
      s.injectFault({ kind: "duplicate" });
      const live = world.goLive("alice", { title: "hi" });
      world.goLive("bob");
      await s.settled();
      world.goOffline("alice", new Date(live.startedAt.getTime() + 5_000));
      await s.settled();
      assert.deepEqual(
        observations.map((o) => {
          const { slug, status, observedAt, source, evidence } = o as Record<string, unknown>;
          return { slug, status, at: (observedAt as Date).getTime(), source, evidence };
        }),
        [
          {
            slug: "alice",
            status: "online",
            at: live.startedAt.getTime(),
            source: "webhook",
            evidence: "push",
          },
          {
            slug: "alice",
            status: "offline",
            at: live.startedAt.getTime() + 5_000,
            source: "webhook",
            evidence: "push",
          },
        ],
      );
    } finally {
      await s.close();
      await receiver.close();
    }
  });
});
