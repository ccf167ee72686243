/**
 * The simulated Kick's webhooks (kick-api.md §1.8, §1.9): a per-run RSA key pair standing in for Kick's signing
 * key, the event subscriptions API (served through src/sim/kick.ts), and a sender that turns FakeWorld changes
 * into signed `livestream.status.updated` deliveries, with Kick's delivery faults on demand (§1.9.5: delays,
 * losses, duplicates, some under a new message id).
 */
import { signedBytes } from "../kick/webhook_signature.ts";

// ---- Signing key (§1.9.3) ----

/** A key pair that signs like Kick: RSASSA-PKCS1-v1_5 with SHA-256, the public half as an SPKI PEM. */
export interface WebhookSigningKey {
  /** `-----BEGIN PUBLIC KEY-----` PEM, what `/public/v1/public-key` serves. */
  publicKeyPem: string;
  privateKey: CryptoKey;
}

const ALGORITHM = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** A fresh 2048-bit RSA key pair (Kick's size, §1.9.3). */
export async function generateWebhookSigningKey(): Promise<WebhookSigningKey> {
  const pair = await crypto.subtle.generateKey(
    { ...ALGORITHM, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ["sign", "verify"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return { publicKeyPem: toPem(spki), privateKey: pair.privateKey };
}

/** The base64 `Kick-Event-Signature` of a delivery, as Kick computes it (§1.9.3). */
export async function signWebhook(
  privateKey: CryptoKey,
  message: { messageId: string; timestamp: string; body: string | Uint8Array },
): Promise<string> {
  const signature = await crypto.subtle.sign(ALGORITHM, privateKey, signedBytes(message));
  return encodeBase64(new Uint8Array(signature));
}

function toPem(der: Uint8Array): string {
  const lines = encodeBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join("\n")}\n-----END PUBLIC KEY-----\n`;
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// ---- Ids ----

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A ULID (26 Crockford base32 characters, time first), the shape of Kick's message and subscription ids. */
export function newUlid(now: number = Date.now()): string {
  let time = "";
  let rest = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const byte of random) tail += CROCKFORD[byte % 32];
  return time + tail;
}
