/** Resolving the webhook public key and following Kick's rotation, against the simulated Kick (§1.7). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { rejection, withRig } from "./kick_rig.ts";
import { KEY_REFETCH_INTERVAL_MS, resolveWebhookKeys } from "../../src/kick/webhook_key.ts";
import { KICK_WEBHOOK_PUBLIC_KEY_PEM } from "../../src/kick/public_key.ts";
import { ConfigError, exitCodeOf } from "../../src/lib/errors.ts";
import { generateWebhookSigningKey, signWebhook } from "../../src/sim/webhooks.ts";
import type { SignedWebhookMessage } from "../../src/kick/webhook_signature.ts";

const vector = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/kick/webhook_status_updated.json", import.meta.url)),
) as { headers: Record<string, string>; body: string };
const kickSigned: SignedWebhookMessage = {
  messageId: vector.headers["Kick-Event-Message-Id"],
  timestamp: vector.headers["Kick-Event-Message-Timestamp"],
  body: vector.body,
  signature: vector.headers["Kick-Event-Signature"],
};

const first = await generateWebhookSigningKey();
const second = await generateWebhookSigningKey();

async function signedBy(privateKey: CryptoKey, body = '{"is_live":true}') {
  const message = {
    messageId: "01JQR5KV0QC94HMETWYNBWRW4Z",
    timestamp: "2026-11-25T18:00:00Z",
    body,
  };
  return { ...message, signature: await signWebhook(privateKey, message) };
}

Deno.test("webhook key: unset, Kick's served key is used", async () => {
  await withRig({ fake: { webhooks: { signingKey: first } } }, async ({ api }) => {
    const keys = await resolveWebhookKeys({
      configured: undefined,
      fetchPublicKey: (signal) => api.getPublicKey(signal),
    });
    assert.equal(keys.source, "api");
    assert.equal(await keys.verify(await signedBy(first.privateKey)), true);
  });
});

Deno.test("webhook key: Kick unreachable, the documented key stands in (and verifies §1.9.4)", async () => {
  await withRig({ http: { maxRetries: 0 } }, async ({ api, fake }) => {
    await fake.close();
    const keys = await resolveWebhookKeys({
      configured: undefined,
      fetchPublicKey: (signal) => api.getPublicKey(signal),
    });
    assert.equal(keys.source, "documented");
    assert.equal(keys.stats.fetchFailures, 1);
    assert.equal(await keys.verify(kickSigned), true);
  });
});

Deno.test("webhook key: PEM text or a file pins the key; Kick is never asked", async () => {
  await withRig({ fake: { webhooks: { signingKey: first } } }, async ({ api, fake }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = join(dir, "kick.pem");
      await Deno.writeTextFile(path, second.publicKeyPem);
      for (const configured of [second.publicKeyPem, path]) {
        const keys = await resolveWebhookKeys({
          configured,
          fetchPublicKey: (signal) => api.getPublicKey(signal),
        });
        assert.equal(keys.source, "config");
        assert.equal(await keys.verify(await signedBy(second.privateKey)), true);
        // Signed with the key Kick serves: refused, and the pinned key is not replaced.
        assert.equal(await keys.verify(await signedBy(first.privateKey)), false);
      }
      assert.equal(fake.requestsTo("public-key").length, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("webhook key: an unusable KICK_WEBHOOK_PUBLIC_KEY is a configuration error naming it", async () => {
  const fetchPublicKey = () => Promise.resolve(KICK_WEBHOOK_PUBLIC_KEY_PEM);
  const cases: [string, RegExp][] = [
    [
      "/nonexistent/kick.pem",
      /KICK_WEBHOOK_PUBLIC_KEY="\/nonexistent\/kick.pem": cannot read it \(no such file\)/,
    ],
    [
      KICK_WEBHOOK_PUBLIC_KEY_PEM.replaceAll("PUBLIC KEY", "RSA PUBLIC KEY"),
      /KICK_WEBHOOK_PUBLIC_KEY: expected an SPKI "PUBLIC KEY" PEM/,
    ],
  ];
  for (const [configured, expected] of cases) {
    const error = await rejection(resolveWebhookKeys({ configured, fetchPublicKey }));
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(exitCodeOf(error), 78);
    assert.match(error.message, expected);
  }
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "empty.pem");
    await Deno.writeTextFile(path, "not a key\n");
    const error = await rejection(resolveWebhookKeys({ configured: path, fetchPublicKey }));
    assert.match(error.message, /KICK_WEBHOOK_PUBLIC_KEY \(file ".*empty.pem"\): expected a PEM/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("webhook key: a rotation is followed on the first failing signature, then at most every 10 minutes", async () => {
  await withRig({ fake: { webhooks: { signingKey: first } } }, async ({ api, fake }) => {
    let now = 1_000_000;
    const keys = await resolveWebhookKeys({
      configured: undefined,
      fetchPublicKey: (signal) => api.getPublicKey(signal),
      now: () => now,
    });
    assert.equal(fake.requestsTo("public-key").length, 1);
    // Kick rotates (§1.7): the first delivery signed with the new key fetches it and verifies.
    fake.webhookPublicKeyPem = second.publicKeyPem;
    now += KEY_REFETCH_INTERVAL_MS;
    assert.equal(await keys.verify(await signedBy(second.privateKey)), true);
    assert.equal(keys.stats.rotations, 1);
    assert.equal(fake.requestsTo("public-key").length, 2);
    // Forged deliveries right after: refused without asking Kick again.
    for (let i = 0; i < 5; i++) {
      assert.equal(await keys.verify(await signedBy(first.privateKey)), false);
    }
    assert.equal(fake.requestsTo("public-key").length, 2);
    // Ten minutes later a failing signature may ask again; the key is unchanged, so it still fails.
    now += KEY_REFETCH_INTERVAL_MS;
    assert.equal(await keys.verify(await signedBy(first.privateKey)), false);
    assert.equal(fake.requestsTo("public-key").length, 3);
    assert.equal(keys.stats.refetches, 2);
    assert.equal(await keys.verify(await signedBy(second.privateKey)), true);
  });
});

Deno.test("webhook key: concurrent failures share one fetch, and a slow Kick does not hold a delivery", async () => {
  await withRig({ fake: { webhooks: { signingKey: first } } }, async ({ api, fake }) => {
    let now = 0;
    const keys = await resolveWebhookKeys({
      configured: undefined,
      fetchPublicKey: (signal) => api.getPublicKey(signal),
      now: () => now,
      refetchWaitMs: 100,
    });
    fake.webhookPublicKeyPem = second.publicKeyPem;
    fake.injectFault("public-key", { kind: "slow", delayMs: 400 });
    now += KEY_REFETCH_INTERVAL_MS;
    const started = Date.now();
    const message = await signedBy(second.privateKey);
    const results = await Promise.all([1, 2, 3].map(() => keys.verify(message)));
    assert.deepEqual(results, [false, false, false]);
    assert.ok(Date.now() - started < 350, `answered after ${Date.now() - started} ms`);
    assert.equal(keys.stats.refetches, 1);
    // The fetch finishes in the background: later deliveries verify.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await keys.verify(message), true);
    assert.equal(fake.requestsTo("public-key").length, 2);
  });
});
