/** Webhook signatures (kick-api.md §1.9.3), on Kick's real test vector of §1.9.4 and on tampered copies. */
import assert from "node:assert/strict";
import {
  importWebhookPublicKey,
  type SignedWebhookMessage,
  verifyWebhookSignature,
  WebhookKeyError,
} from "../../src/kick/webhook_signature.ts";
import { KICK_WEBHOOK_PUBLIC_KEY_PEM } from "../../src/kick/public_key.ts";
import { generateWebhookSigningKey, signWebhook } from "../../src/sim/webhooks.ts";

const vector = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/kick/webhook_status_updated.json", import.meta.url)),
) as { headers: Record<string, string>; body: string };

const real: SignedWebhookMessage = {
  messageId: vector.headers["Kick-Event-Message-Id"],
  timestamp: vector.headers["Kick-Event-Message-Timestamp"],
  body: vector.body,
  signature: vector.headers["Kick-Event-Signature"],
};

const kickKey = await importWebhookPublicKey(KICK_WEBHOOK_PUBLIC_KEY_PEM);

Deno.test("webhook signature: Kick's real delivery (§1.9.4) verifies, as text and as bytes", async () => {
  assert.equal(new TextEncoder().encode(vector.body).length, 358);
  assert.equal(await verifyWebhookSignature(kickKey, real), true);
  const bytes = { ...real, body: new TextEncoder().encode(vector.body) };
  assert.equal(await verifyWebhookSignature(kickKey, bytes), true);
});

const tampered: [string, Partial<SignedWebhookMessage>][] = [
  ["one byte appended to the body", { body: vector.body + " " }],
  ["the body re-serialised", { body: JSON.stringify(JSON.parse(vector.body), null, 1) }],
  ["is_live flipped", { body: vector.body.replace('"is_live":true', '"is_live":false') }],
  ["the timestamp one second later", { timestamp: "2025-04-01T07:56:20Z" }],
  ["the timestamp reformatted", { timestamp: "2025-04-01T07:56:19.000Z" }],
  ["another message id", { messageId: "01JQR5KV0QC94HMETWYNBWRW4Y" }],
  ["an empty signature", { signature: "" }],
  ["a signature that is not base64", { signature: "not base64 at all!" }],
  ["a truncated signature", { signature: real.signature.slice(0, 100) }],
  ["a signature of zeros", { signature: btoa("\0".repeat(256)) }],
  ["a huge signature", { signature: "A".repeat(100_000) }],
];

for (const [name, change] of tampered) {
  Deno.test(`webhook signature: ${name} fails`, async () => {
    assert.equal(await verifyWebhookSignature(kickKey, { ...real, ...change }), false);
  });
}

Deno.test("webhook signature: another key does not verify Kick's delivery, and Kick's does not verify ours", async () => {
  const ours = await generateWebhookSigningKey();
  const ourKey = await importWebhookPublicKey(ours.publicKeyPem);
  assert.equal(await verifyWebhookSignature(ourKey, real), false);
  const signature = await signWebhook(ours.privateKey, real);
  assert.equal(await verifyWebhookSignature(ourKey, { ...real, signature }), true);
  assert.equal(await verifyWebhookSignature(kickKey, { ...real, signature }), false);
});

Deno.test("webhook signature: keys that are not SPKI RSA PEMs are refused with the reason", async () => {
  const cases: [string, RegExp][] = [
    ["", /expected a PEM public key/],
    ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAq", /expected a PEM public key/],
    [
      KICK_WEBHOOK_PUBLIC_KEY_PEM.replaceAll("PUBLIC KEY", "RSA PUBLIC KEY"),
      /PKCS#1 "RSA PUBLIC KEY".*openssl rsa -RSAPublicKey_in/,
    ],
    [
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
      /expected a "PUBLIC KEY" PEM block, got "PRIVATE KEY"/,
    ],
    ["-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----", /not valid base64/],
    ["-----BEGIN PUBLIC KEY-----\nAAAAAAAA\n-----END PUBLIC KEY-----", /not an RSA public key/],
  ];
  for (const [pem, expected] of cases) {
    await assert.rejects(importWebhookPublicKey(pem), (error: unknown) => {
      assert.ok(error instanceof WebhookKeyError);
      assert.match(error.message, expected);
      return true;
    });
  }
});
